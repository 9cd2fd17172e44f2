// The protobuf wire format of the four CRI messages the agent exchanges with its daemon (Version,
// Status, ImageStatus, PullImage), written out by hand: loading api.proto with protobufjs and
// @grpc/grpc-js for four calls a minute cost the agent ~7 MB of memory. Field numbers are those of
// cri-api/runtime/v1/api.proto; unknown fields are skipped, as protobuf requires.

export interface VersionInfo {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface RuntimeStatusInfo {
  conditions: RuntimeCondition[];
  /** runtime_handlers[].name, the default handler ("") included. */
  handlers: string[];
}

class Writer {
  private readonly parts: Buffer[] = [];

  private varint(n: number): void {
    const b: number[] = [];
    while (n > 0x7f) {
      b.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    b.push(n);
    this.parts.push(Buffer.from(b));
  }

  string(field: number, s: string): this {
    if (s === '') return this;
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  bool(field: number, v: boolean): this {
    if (!v) return this;
    this.varint((field << 3) | 0);
    this.varint(1);
    return this;
  }

  bytes(field: number, b: Buffer): this {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.parts.push(b);
    return this;
  }

  /** An embedded message, written even when empty (its presence can matter). */
  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Each field of a message: its number and, for length-delimited ones, the bytes; varints as numbers. */
function* fields(buf: Buffer): Generator<{ field: number; bytes?: Buffer; value?: number }> {
  let i = 0;
  const varint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated protobuf message');
      const b = buf[i++] as number;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        yield { field, value: varint() };
        break;
      case 1:
        i += 8;
        break;
      case 2: {
        const len = varint();
        if (i + len > buf.length) throw new Error('truncated protobuf message');
        yield { field, bytes: buf.subarray(i, i + len) };
        i += len;
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
  }
}

const text = (b: Buffer | undefined): string => (b ? b.toString('utf8') : '');

const imageSpec = (image: string): Writer => new Writer().string(1, image);

export const encodeVersionRequest = (version: string): Buffer => new Writer().string(1, version).finish();
export const encodeStatusRequest = (verbose: boolean): Buffer => new Writer().bool(1, verbose).finish();
export const encodeImageStatusRequest = (image: string): Buffer => new Writer().message(1, imageSpec(image)).finish();
export const encodePullImageRequest = (image: string): Buffer => new Writer().message(1, imageSpec(image)).finish();

export function decodeVersionResponse(buf: Buffer): VersionInfo {
  const v: VersionInfo = { version: '', runtimeName: '', runtimeVersion: '', runtimeApiVersion: '' };
  for (const f of fields(buf)) {
    if (f.field === 1) v.version = text(f.bytes);
    else if (f.field === 2) v.runtimeName = text(f.bytes);
    else if (f.field === 3) v.runtimeVersion = text(f.bytes);
    else if (f.field === 4) v.runtimeApiVersion = text(f.bytes);
  }
  return v;
}

function decodeCondition(buf: Buffer): RuntimeCondition {
  const c: RuntimeCondition = { type: '', status: false, reason: '', message: '' };
  for (const f of fields(buf)) {
    if (f.field === 1) c.type = text(f.bytes);
    else if (f.field === 2) c.status = f.value !== undefined && f.value !== 0;
    else if (f.field === 3) c.reason = text(f.bytes);
    else if (f.field === 4) c.message = text(f.bytes);
  }
  return c;
}

export function decodeStatusResponse(buf: Buffer): RuntimeStatusInfo {
  const out: RuntimeStatusInfo = { conditions: [], handlers: [] };
  for (const f of fields(buf)) {
    if (f.field === 1 && f.bytes) {
      for (const c of fields(f.bytes)) if (c.field === 1 && c.bytes) out.conditions.push(decodeCondition(c.bytes));
    } else if (f.field === 3 && f.bytes) {
      let name = '';
      for (const h of fields(f.bytes)) if (h.field === 1) name = text(h.bytes);
      out.handlers.push(name);
    }
  }
  return out;
}

/** ImageStatusResponse: whether the image is there (field 1 set). */
export function decodeImageStatusPresent(buf: Buffer): boolean {
  for (const f of fields(buf)) if (f.field === 1) return true;
  return false;
}

/** PullImageResponse.image_ref. */
export function decodePullImageResponse(buf: Buffer): string {
  let ref = '';
  for (const f of fields(buf)) if (f.field === 1) ref = text(f.bytes);
  return ref;
}
