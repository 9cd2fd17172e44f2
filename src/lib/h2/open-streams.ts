// A connection's open streams by id, in an array ordered by id: a client opens streams with ever
// larger ids, so a new one goes at the end and a lookup is a binary search. Not a Map: a Map that
// lives as long as the connection gets a new hash table in the old generation whenever its
// deleted entries force a rehash (every few streams), and per-stream old-generation garbage ends
// in full GCs (see ../slot-set.ts).

export class OpenStreams<T extends { readonly id: number }> {
  private readonly list: T[] = [];

  get size(): number {
    return this.list.length;
  }

  get(id: number): T | undefined {
    const i = this.indexOf(id);
    return i < 0 ? undefined : this.list[i];
  }

  /** Adds a stream whose id is above every open stream's (the caller checks the order). */
  add(stream: T): void {
    const last = this.list[this.list.length - 1];
    if (last && last.id >= stream.id) throw new Error(`stream ${stream.id} opened after stream ${last.id}`);
    this.list.push(stream);
  }

  /** Removes this very stream (not another with its id); false if it was not open. */
  delete(stream: T): boolean {
    const i = this.indexOf(stream.id);
    if (i < 0 || this.list[i] !== stream) return false;
    this.list.copyWithin(i, i + 1);
    this.list.pop();
    return true;
  }

  /** The open streams now: a copy, so streams may close while it is walked. */
  snapshot(): T[] {
    return this.list.slice();
  }

  clear(): void {
    this.list.length = 0;
  }

  private indexOf(id: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = (this.list[mid] as T).id;
      if (at === id) return mid;
      if (at < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}
