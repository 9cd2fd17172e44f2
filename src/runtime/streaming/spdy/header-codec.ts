// Header block compression (SPDY/3 section 2.6.10.1): each direction of a session is ONE zlib
// stream seeded with the SPDY/3 dictionary; every header block is deflated and ended with a
// SYNC_FLUSH so the peer can inflate it on its own. The contexts are stateful, so blocks must be
// compressed and decompressed strictly in frame order (the session serialises both).
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { FrameError } from './frames.js';

/** No header block we expect comes near this; a bigger one is a decompression bomb. */
export const MAX_HEADER_BLOCK = 256 * 1024;

abstract class ZlibContext {
  private chunks: Buffer[] = [];
  private size = 0;
  private failure: Error | undefined;
  /** The caller waiting on the current block: zlib never calls the flush callback after an error. */
  private pending: ((err: Error) => void) | undefined;
  constructor(
    protected readonly z: Deflate | Inflate,
    describe: (err: Error) => Error = (err) => err,
  ) {
    z.on('data', (c: Buffer) => {
      this.size += c.length;
      if (this.size > MAX_HEADER_BLOCK) {
        this.failure ??= new FrameError(`header block expands past ${MAX_HEADER_BLOCK} bytes`);
        this.chunks = [];
        return;
      }
      this.chunks.push(c);
    });
    z.on('error', (err: Error) => {
      this.failure = describe(err);
      this.pending?.(this.failure);
      this.pending = undefined;
    });
  }

  protected run(input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.size = 0;
      this.pending = reject;
      this.z.write(input);
      this.z.flush(constants.Z_SYNC_FLUSH, () => {
        this.pending = undefined;
        if (this.failure) return reject(this.failure);
        const out = Buffer.concat(this.chunks);
        this.chunks = [];
        resolve(out);
      });
    });
  }

  close(): void {
    this.z.destroy();
  }
}

export class HeaderCompressor extends ZlibContext {
  constructor() {
    super(createDeflate({ dictionary: SPDY3_DICTIONARY }));
  }
  compress(block: Buffer): Promise<Buffer> {
    return this.run(block);
  }
}

export class HeaderDecompressor extends ZlibContext {
  constructor() {
    // Input that does not inflate is the peer's fault: a protocol error, not ours.
    super(createInflate({ dictionary: SPDY3_DICTIONARY }), (err) => new FrameError(`header block does not decompress: ${err.message}`));
  }
  decompress(block: Buffer): Promise<Buffer> {
    return this.run(block);
  }
}
