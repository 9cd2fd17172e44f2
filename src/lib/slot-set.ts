// A set for members that come and go with each call, kept in an array: each member holds its own
// index (under a key the set is given). V8 gives a Map or Set that has lived long a new hash table
// in the old generation whenever it rehashes, which its deleted entries force every few add/delete
// pairs: per-call churn on a daemon's long-lived Set leaves tens of bytes of old-generation garbage a
// call, and that garbage is what ends in full GCs while the kubelet polls. Here adding and removing
// allocate nothing once the array has grown.

/** The index field's value while an object is in no set under that key. */
export const NO_SLOT = -1;

export class SlotSet<K extends string, T extends Record<K, number>> {
  private readonly items: T[] = [];
  private readonly key: K;

  /** `key`: the member's field that holds its index here (NO_SLOT when out); one per set it can join. */
  constructor(key: K) {
    this.key = key;
  }

  get size(): number {
    return this.items.length;
  }

  has(item: T): boolean {
    const slot = item[this.key];
    return slot !== NO_SLOT && this.items[slot] === item;
  }

  add(item: T): void {
    if (this.has(item)) return;
    (item as Record<K, number>)[this.key] = this.items.length;
    this.items.push(item);
  }

  /** Removes `item` (swapping the last member into its place); false if it was not in. */
  delete(item: T): boolean {
    if (!this.has(item)) return false;
    const slot = item[this.key];
    const last = this.items.pop() as T;
    if (last !== item) {
      this.items[slot] = last;
      (last as Record<K, number>)[this.key] = slot;
    }
    (item as Record<K, number>)[this.key] = NO_SLOT;
    return true;
  }

  /** The members now, in no particular order: a copy, so the set may change while it is walked. */
  snapshot(): T[] {
    return this.items.slice();
  }

  /** Empties the set (every member's index is reset). */
  clear(): void {
    for (const item of this.items) (item as Record<K, number>)[this.key] = NO_SLOT;
    this.items.length = 0;
  }
}
