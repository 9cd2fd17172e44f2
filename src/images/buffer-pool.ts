// Read buffers handed back once their bytes have been consumed, so a layer read from disk does not
// allocate (and leave to the garbage collector) a new buffer per read: hundreds of megabytes per
// pull otherwise, which the process holds until V8 gets round to collecting them.
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];

  constructor(
    /** Size of every buffer. */
    readonly size: number,
    /** Most buffers kept for reuse. */
    private readonly keep = 4,
  ) {}

  /** A buffer of `size` bytes. */
  take(): Buffer {
    const ab = this.free.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(this.size);
  }

  /** Hand back a buffer from take() (or a view of one) nobody reads any more. */
  give(b: Buffer): void {
    const ab = b.buffer;
    if (ab instanceof ArrayBuffer && ab.byteLength === this.size && this.free.length < this.keep && !this.free.includes(ab)) this.free.push(ab);
  }
}
