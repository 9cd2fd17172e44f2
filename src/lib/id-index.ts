// What the sandbox and container stores share: unique names reserved for ids from the start of a
// creation, and lookups by full id or unique id prefix (as crictl lets users type) that skip hidden
// records (kept for a caller's retry).
import { AlreadyExistsError, InvalidArgumentError } from './errors.js';

export class NameReservations {
  private readonly names = new Map<string, string>();

  /** `holderLabel` names the holder in the error, e.g. `container "<id>"`. */
  reserve(key: string, id: string, what: string, holderLabel: (holder: string) => string): void {
    const holder = this.names.get(key);
    if (holder !== undefined && holder !== id) throw new AlreadyExistsError(`${what} already exists as ${holderLabel(holder)}`);
    this.names.set(key, id);
  }

  /** A recovered record takes its name back as it was on disk. */
  assign(key: string, id: string): void {
    this.names.set(key, id);
  }

  release(key: string, id: string): void {
    if (this.names.get(key) === id) this.names.delete(key);
  }

  holder(key: string): string | undefined {
    return this.names.get(key);
  }
}

/** The record with this id, or the one visible record whose id starts with it; ambiguity is INVALID_ARGUMENT. */
export function findByIdOrPrefix<T extends { id: string }>(
  records: ReadonlyMap<string, T>,
  idOrPrefix: string,
  hidden: ReadonlySet<string>,
  noun: string,
): T | undefined {
  if (idOrPrefix === '') return undefined;
  const exact = records.get(idOrPrefix);
  if (exact) return hidden.has(exact.id) ? undefined : exact;
  let hit: T | undefined;
  let count = 0;
  for (const r of records.values()) {
    if (!r.id.startsWith(idOrPrefix) || hidden.has(r.id)) continue;
    hit = r;
    count++;
  }
  if (count > 1) throw new InvalidArgumentError(`${noun} id prefix "${idOrPrefix}" is ambiguous (${count} match)`);
  return hit;
}
