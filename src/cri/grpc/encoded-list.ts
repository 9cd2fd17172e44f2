// List answers in wire form, built from per-item bytes cached by record identity.
// The kubelet polls ListContainers and ListPodSandbox every second; re-encoding hundreds of
// unchanged items each time was most of the daemon's work for the call (and its garbage).
// Records in the stores are replaced on every change, never mutated, so a record object seen
// before still encodes to the same bytes.

/** A response already encoded: the server's serializer sends these bytes as they are. */
export class Encoded {
  constructor(readonly bytes: Buffer) {}
}

/**
 * A repeated message field concatenates on the wire: the encoding of a response holding items
 * [a, b] is the encoding of [a] followed by that of [b]. So each item is cached as the encoding
 * of a one-item response and the answer is their concatenation.
 */
export class EncodedList<T extends object> {
  private readonly cache = new WeakMap<T, Buffer>();
  private last: { items: readonly T[]; answer: Encoded } | undefined;

  constructor(private readonly encodeOne: (item: T) => Buffer) {}

  encode(items: readonly T[]): Encoded {
    // The kubelet's poll usually finds nothing changed: the same records give the same answer,
    // without a fresh (off-heap) buffer per call; those drove the daemon's major GCs.
    const last = this.last;
    if (last && last.items.length === items.length && last.items.every((x, i) => x === items[i])) return last.answer;
    const parts: Buffer[] = new Array<Buffer>(items.length);
    let size = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as T;
      let bytes = this.cache.get(item);
      if (!bytes) {
        bytes = this.encodeOne(item);
        this.cache.set(item, bytes);
      }
      parts[i] = bytes;
      size += bytes.length;
    }
    const answer = new Encoded(Buffer.concat(parts, size));
    this.last = { items: [...items], answer };
    return answer;
  }
}

/** A response serializer that lets `Encoded` answers through as they are. */
export function encodeAnswer(serialize: (value: object) => Buffer): (value: unknown) => Buffer {
  return (value) => (value instanceof Encoded ? value.bytes : serialize(value as object));
}
