// A blob while its download writes it: how many bytes of the ingest file are written (contiguous
// from byte 0), and how the download ended. followBlob() reads the blob behind the writer, so a
// layer unpacks as it arrives without holding it in memory and without slowing the download to
// the unpacker's pace (the bytes come back from the page cache). The blob's digest is only known
// to match once the download verifies it, so the reader's last read waits for that verdict.
import { closeSync, openSync, readSync } from 'node:fs';
import { isErrno } from '../lib/errors.js';
import type { BufferPool } from './buffer-pool.js';
import { cancelledError } from './cancellation.js';

/** The download started the file over (a partial that did not verify, a server ignoring Range). */
export class BlobRestarted extends Error {}

type Outcome = { ok: true } | { ok: false; error: unknown };

export class GrowingBlob {
  /** Bytes written to the ingest file, from byte 0, in this generation of it. */
  written = 0;
  /** Bumped each time the download truncates the file and starts over. */
  generation = 0;
  private outcome: Outcome | undefined;
  private wake: (() => void)[] = [];

  constructor(
    readonly size: number,
    /** Where the bytes are while downloading, and where they are once verified (renamed). */
    readonly ingestPath: string,
    readonly blobPath: string,
  ) {}

  grew(total: number): void {
    this.written = total;
    this.notify();
  }

  restart(): void {
    this.generation++;
    this.written = 0;
    this.notify();
  }

  /** The download ended: verified and committed to blobPath, or failed with `error`. */
  finish(error?: unknown): void {
    if (this.outcome) return;
    this.outcome = error === undefined ? { ok: true } : { ok: false, error };
    if (error === undefined) this.written = this.size;
    this.notify();
  }

  get settled(): Outcome | undefined {
    return this.outcome;
  }

  /** Resolves at the next change (bytes, restart or end). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.wake.push(resolve));
  }

  private notify(): void {
    const w = this.wake;
    if (w.length === 0) return;
    this.wake = [];
    for (const f of w) f();
  }
}

export interface FollowOptions {
  /** Largest read (default 256 KiB; the pool's buffer size with a pool). */
  chunkBytes?: number;
  /** Read into these buffers; the consumer gives them back when done with them. */
  pool?: BufferPool;
  signal?: AbortSignal;
  /** Called with each chunk's length as it is handed on. */
  onRead?: (n: number) => void;
}

/**
 * The blob's bytes in order, read as the download writes them; ends only once the download has
 * verified the digest, and throws its error if it failed, or BlobRestarted if the file started over.
 */
export async function* followBlob(blob: GrowingBlob, opts: FollowOptions = {}): AsyncGenerator<Buffer> {
  const chunk = opts.pool?.size ?? opts.chunkBytes ?? 256 * 1024;
  const generation = blob.generation;
  let fd: number | undefined;
  let pos = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw cancelledError('unpack of a blob being downloaded');
      if (blob.generation !== generation) throw new BlobRestarted('the download of the blob started over');
      const end = Math.min(blob.written, blob.size);
      if (pos < end) {
        fd ??= openBlob(blob);
        const n = Math.min(chunk, end - pos);
        const whole = opts.pool?.take() ?? Buffer.allocUnsafeSlow(n);
        const buf = whole.length === n ? whole : whole.subarray(0, n);
        let got = 0;
        while (got < n) {
          const r = readSync(fd, buf, got, n - got, pos + got);
          if (r === 0) break;
          got += r;
        }
        // The file was truncated under us: the writer is starting over.
        if (got < n) throw new BlobRestarted('the blob file shrank while it was read');
        pos += n;
        opts.onRead?.(n);
        yield buf;
        continue;
      }
      const o = blob.settled;
      if (o && !o.ok) throw o.error;
      if (o?.ok && pos >= blob.size) return;
      await blob.changed();
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The ingest file while it is written; the committed blob once the download renamed it. */
function openBlob(blob: GrowingBlob): number {
  if (blob.settled?.ok) return openSync(blob.blobPath, 'r');
  try {
    return openSync(blob.ingestPath, 'r');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    // Renamed between the check and the open.
    return openSync(blob.blobPath, 'r');
  }
}
