// ContentStore on disk: <root>/blobs/sha256/<hex> and <root>/ingest/<hex>. A download is hashed
// while it streams into its ingest file and renamed into blobs/ only when size and digest match;
// a partial left by a crash or a dropped connection is resumed (re-hashed, then HTTP Range) and
// discarded if it does not verify. Nothing under blobs/ is ever unverified. A connection slower
// than the floor (registry.minBlobBytesPerSecond) is dropped and resumed like a cut one; a download
// whose callers have all gone stops and keeps its partial for the next pull.
import { createReadStream, writeSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, NexcageError, ResourceExhaustedError, UnavailableError, errorMessage, isErrno } from '../lib/errors.js';
import { atomicWrite } from '../lib/fsutil.js';
import { abandonable, cancelledError, SharedAbort, sleep, throwIfAborted } from './cancellation.js';
import type { BlobBody, BlobSource, ContentStore, IngestOptions, IngestResult } from './content-store.js';
import { digestHex, newHash, sha256 } from './digest.js';
import { GrowingBlob } from './growing-blob.js';
import { checkIntervalMs, formatRate, progressBytes, ThroughputWatch, type RateFloor } from './transfer-rate.js';

interface Download {
  done: Promise<IngestResult>;
  shared: SharedAbort;
  blob: GrowingBlob;
}

export class LocalContentStore implements ContentStore {
  private readonly inflight = new Map<string, Download>();

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(this.root, 'ingest'), { recursive: true });
  }

  path(digest: string): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  private ingestPath(digest: string): string {
    return join(this.root, 'ingest', digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.path(digest));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async read(digest: string, maxBytes: number): Promise<Buffer> {
    const st = await stat(this.path(digest));
    if (st.size > maxBytes) throw new InvalidArgumentError(`blob ${digest} is ${st.size} bytes, over the ${maxBytes} byte limit`);
    return readFile(this.path(digest));
  }

  async put(digest: string, bytes: Uint8Array): Promise<void> {
    const actual = sha256(bytes);
    if (actual !== digest) throw new FailedPreconditionError(`blob digest mismatch: expected ${digest}, got ${actual} (${bytes.length} bytes)`);
    if (await this.has(digest)) return;
    await atomicWrite(this.path(digest), bytes, 0o644);
  }

  ingest(desc: { digest: string; size: number }, source: BlobSource, opts: IngestOptions = {}): Promise<IngestResult> {
    const what = `download of blob ${desc.digest}`;
    if (opts.signal?.aborted) return Promise.reject(cancelledError(what));
    const running = this.inflight.get(desc.digest);
    if (running?.shared.signal.aborted) {
      // Its callers all went away and it is winding down: start afresh once it lets go of the partial.
      const settled = running.done.then(
        () => undefined,
        () => undefined,
      );
      return abandonable(settled, opts.signal, () => cancelledError(what)).then(() => this.ingest(desc, source, opts));
    }
    if (running) {
      running.shared.join(opts.signal);
      opts.onBlob?.(running.blob);
      return abandonable(running.done, opts.signal, () => cancelledError(what)).then((r) => ({ ...r, fetched: false, bytesFetched: 0 }));
    }
    const shared = new SharedAbort();
    shared.join(opts.signal);
    const blob = new GrowingBlob(desc.size, this.ingestPath(desc.digest), this.path(desc.digest));
    const entry: Download = {
      shared,
      blob,
      done: this.download(desc, source, { ...opts, signal: shared.signal }, blob).then(
        (r) => {
          blob.finish();
          return r;
        },
        (err: unknown) => {
          blob.finish(err);
          throw err;
        },
      )
        .finally(() => {
          if (this.inflight.get(desc.digest) === entry) this.inflight.delete(desc.digest);
          shared.dispose();
        }),
    };
    this.inflight.set(desc.digest, entry);
    opts.onBlob?.(blob);
    return abandonable(entry.done, opts.signal, () => cancelledError(what));
  }

  private async download(desc: { digest: string; size: number }, source: BlobSource, opts: IngestOptions & { signal: AbortSignal }, blob: GrowingBlob): Promise<IngestResult> {
    if (await this.has(desc.digest)) return { fetched: false, bytesFetched: 0, resumed: false };
    const partial = this.ingestPath(desc.digest);
    const fromDisk = await this.rehash(partial, desc.size);
    blob.grew(fromDisk.offset);
    try {
      return await this.fetchInto(desc, source, opts, fromDisk, blob);
    } catch (err) {
      // A partial from an earlier run that does not verify is discarded and fetched once afresh.
      if (fromDisk.offset > 0 && err instanceof DigestMismatch) {
        blob.restart();
        return this.fetchInto(desc, source, opts, { offset: 0, hash: newHash() }, blob);
      }
      throw err;
    }
  }

  /** Hash what an earlier attempt left in the ingest file, so the download continues after it. */
  private async rehash(partial: string, size: number): Promise<{ offset: number; hash: ReturnType<typeof newHash> }> {
    const hash = newHash();
    let have: number;
    try {
      have = (await stat(partial)).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return { offset: 0, hash };
      throw err;
    }
    if (have === 0 || have > size) {
      await unlink(partial);
      return { offset: 0, hash };
    }
    for await (const c of createReadStream(partial) as AsyncIterable<Buffer>) hash.update(c);
    return { offset: have, hash };
  }

  private async fetchInto(
    desc: { digest: string; size: number },
    source: BlobSource,
    opts: IngestOptions & { signal: AbortSignal },
    from: { offset: number; hash: ReturnType<typeof newHash> },
    blob: GrowingBlob,
  ): Promise<IngestResult> {
    const partial = this.ingestPath(desc.digest);
    let { offset, hash } = from;
    const resumedFromDisk = offset > 0;
    let resumed = resumedFromDisk;
    let bytesFetched = 0;
    const attempts = opts.attempts ?? 5;
    const backoff = opts.backoffMs ?? 250;
    const signal = opts.signal;
    const floor = opts.minRate && opts.minRate.bytesPerSecond > 0 ? opts.minRate : undefined;
    const enough = progressBytes(floor);
    let fh: FileHandle = await open(partial, offset > 0 ? 'r+' : 'w', 0o644);
    try {
      let failures = 0;
      while (offset < desc.size) {
        throwIfAborted(signal, `download of blob ${desc.digest} (at byte ${offset} of ${desc.size})`);
        const before = offset;
        // Opening does its own retries (registry client); only a body cut short is retried here.
        const body = await source(offset, signal);
        const watch = watchBody(body, floor, signal);
        try {
          if (body.start !== offset) {
            // The server sent the whole blob again: start over.
            if (body.start !== 0) throw new UnavailableError(`blob ${desc.digest}: source started at byte ${body.start}, wanted ${offset}`);
            await fh.truncate(0);
            offset = 0;
            hash = newHash();
            blob.restart();
          }
          if (offset > 0) resumed = true;
          for await (const chunk of body.body) {
            if (offset + chunk.length > desc.size) {
              body.body.destroy();
              throw new DigestMismatch(`blob ${desc.digest}: the registry sent more than the ${desc.size} bytes the manifest declares`);
            }
            writeAll(fh.fd, chunk, offset);
            hash.update(chunk);
            offset += chunk.length;
            bytesFetched += chunk.length;
            blob.grew(offset);
            watch.record(chunk.length);
            opts.onBytes?.(chunk.length);
            if (body.owned) release(chunk);
          }
        } catch (err) {
          if (err instanceof NexcageError && !(err instanceof UnavailableError)) throw err;
          // A full disk is no network failure: retrying cannot help (and kept the partial filling it).
          if (isErrno(err, 'ENOSPC') || isErrno(err, 'EDQUOT')) throw noSpace(desc, offset, err);
          throwIfAborted(signal, `download of blob ${desc.digest} (at byte ${offset} of ${desc.size})`);
          failures = offset - before >= enough ? 1 : failures + 1;
          if (failures >= attempts) {
            if (err instanceof TooSlow) {
              throw new UnavailableError(`blob ${desc.digest}: too slow ${attempts} times in a row: ${err.message} (at byte ${offset} of ${desc.size})`);
            }
            throw new UnavailableError(`blob ${desc.digest}: download failed at byte ${offset} of ${desc.size}: ${errorMessage(err)}`);
          }
          await sleep(backoff * 2 ** (failures - 1), signal);
          continue;
        } finally {
          watch.stop();
        }
        if (offset < desc.size) {
          // The body ended early without an error: a dropped connection; resume from here.
          failures = offset - before >= enough ? 1 : failures + 1;
          if (failures >= attempts) throw new UnavailableError(`blob ${desc.digest}: body ended at byte ${offset} of ${desc.size}`);
        }
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== desc.digest) {
        throw new DigestMismatch(`blob digest mismatch: expected ${desc.digest}, got ${actual} (${offset} bytes)`);
      }
      await fh.sync();
      await fh.close();
      fh = undefined as unknown as FileHandle;
      await rename(partial, this.path(desc.digest));
      return { fetched: true, bytesFetched, resumed };
    } catch (err) {
      if (fh) await fh.close().catch(() => undefined);
      // Mismatched or oversized content is never kept, nor a partial on a full disk (it frees the
      // space for the next try); a network failure or a cancel keeps its partial to resume.
      const full = err instanceof ResourceExhaustedError ? err : isErrno(err, 'ENOSPC') || isErrno(err, 'EDQUOT') ? noSpace(desc, offset, err) : undefined;
      if (err instanceof DigestMismatch || full) await unlink(partial).catch(() => undefined);
      throw full ?? err;
    }
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
    await rm(this.ingestPath(digest), { force: true });
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.root, 'blobs', 'sha256'));
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /** Partial downloads of blobs nothing is pulling: dropped by GC. */
  async ingests(): Promise<string[]> {
    const names = await readdir(join(this.root, 'ingest'));
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`).filter((d) => !this.inflight.has(d));
  }

  async usage(): Promise<{ bytes: number; inodes: number }> {
    let bytes = 0;
    let inodes = 0;
    for (const dir of [join(this.root, 'blobs', 'sha256'), join(this.root, 'ingest')]) {
      for (const n of await readdir(dir)) {
        try {
          const st = await stat(join(dir, n));
          bytes += st.blocks * 512;
          inodes++;
        } catch {
          // removed while we counted
        }
      }
    }
    return { bytes, inodes };
  }
}

/** Content that cannot be the blob asked for: never kept, never retried from the same partial. */
export class DigestMismatch extends FailedPreconditionError {}

/** A connection below the rate floor: dropped and resumed, but never counted as progress. */
class TooSlow extends UnavailableError {}

/**
 * While one body streams: destroy it when every caller has gone, or when a window's average falls
 * below the floor (checked on a timer, so a trickle that never sends another byte is caught too).
 */
function watchBody(body: BlobBody, floor: RateFloor | undefined, signal: AbortSignal): { record(n: number): void; stop(): void } {
  const origin = body.origin ?? 'the source';
  const onAbort = (): void => body.body.destroy(cancelledError(`download from ${origin}`));
  signal.addEventListener('abort', onAbort, { once: true });
  const watch = floor ? new ThroughputWatch(floor, performance.now()) : undefined;
  const timer =
    floor && watch
      ? setInterval(() => {
          const slow = watch.check(performance.now());
          if (!slow) return;
          const secs = Math.round(slow.windowMs / 100) / 10;
          body.body.destroy(
            new TooSlow(`${origin} sent ${formatRate(slow.bytesPerSecond)} over the last ${secs} s, below registry.minBlobBytesPerSecond (${floor.bytesPerSecond} B/s)`),
          );
        }, checkIntervalMs(floor))
      : undefined;
  return {
    record: (n) => watch?.record(n),
    stop: () => {
      clearInterval(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

/** Free a chunk's memory now, if the chunk is the whole of its memory (never part of a shared pool). */
function release(chunk: Buffer): void {
  const ab = chunk.buffer;
  if (ab instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === ab.byteLength) ab.transfer(0);
}

/**
 * Synchronous on purpose: a short copy into the page cache per network chunk, where a thread-pool
 * round trip per chunk would queue behind the layers' decompression on the same pool.
 */
function writeAll(fd: number, chunk: Buffer, position: number): void {
  let done = 0;
  while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, position + done);
}

function noSpace(desc: { digest: string; size: number }, offset: number, err: unknown): ResourceExhaustedError {
  return new ResourceExhaustedError(`blob ${desc.digest}: no space left for the download (at byte ${offset} of ${desc.size}): ${errorMessage(err)}`);
}
