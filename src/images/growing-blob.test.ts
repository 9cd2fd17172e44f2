import { mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.js';
import { BlobRestarted, followBlob, GrowingBlob } from './growing-blob.js';

const dir = mkdtempSync(join(tmpdir(), 'nexcage-growing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function blobFiles(): { ingest: string; blob: string } {
  n++;
  return { ingest: join(dir, `ingest-${n}`), blob: join(dir, `blob-${n}`) };
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('followBlob', () => {
  it('reads the bytes as the writer adds them and ends only once the download is verified and renamed', async () => {
    const f = blobFiles();
    const blob = new GrowingBlob(10, f.ingest, f.blob);
    const reads: number[] = [];
    let ended = false;
    const got = collect(followBlob(blob, { chunkBytes: 4, onRead: (k) => reads.push(k) })).then((b) => {
      ended = true;
      return b;
    });
    writeFileSync(f.ingest, 'hello');
    blob.grew(5);
    await new Promise((r) => setTimeout(r, 20));
    expect(reads).toEqual([4, 1]);
    appendFileSync(f.ingest, 'world');
    blob.grew(10);
    await new Promise((r) => setTimeout(r, 20));
    expect(reads).toEqual([4, 1, 4, 1]);
    // Every byte is read, but the digest is not checked yet: no end of stream.
    expect(ended).toBe(false);
    renameSync(f.ingest, f.blob);
    blob.finish();
    expect((await got).toString()).toBe('helloworld');
  });

  it('reads a blob that was already in the store from its committed file', async () => {
    const f = blobFiles();
    writeFileSync(f.blob, 'committed');
    const blob = new GrowingBlob(9, f.ingest, f.blob);
    blob.finish();
    expect((await collect(followBlob(blob))).toString()).toBe('committed');
  });

  it('throws the download error (a digest mismatch) instead of ending', async () => {
    const f = blobFiles();
    const blob = new GrowingBlob(4, f.ingest, f.blob);
    writeFileSync(f.ingest, 'abcd');
    blob.grew(4);
    const got = collect(followBlob(blob));
    blob.finish(new Error('blob digest mismatch'));
    await expect(got).rejects.toThrow('blob digest mismatch');
  });

  it('throws BlobRestarted when the download starts its file over', async () => {
    const f = blobFiles();
    const blob = new GrowingBlob(8, f.ingest, f.blob);
    writeFileSync(f.ingest, 'abcd');
    blob.grew(4);
    const got = collect(followBlob(blob));
    await new Promise((r) => setTimeout(r, 10));
    truncateSync(f.ingest, 0);
    blob.restart();
    await expect(got).rejects.toBeInstanceOf(BlobRestarted);
  });

  it('stops when its signal aborts', async () => {
    const f = blobFiles();
    const blob = new GrowingBlob(8, f.ingest, f.blob);
    const ac = new AbortController();
    const got = collect(followBlob(blob, { signal: ac.signal }));
    ac.abort();
    blob.grew(0);
    await expect(got).rejects.toThrow(/cancelled/);
  });

  it('reads into pooled buffers, reusing the ones given back', async () => {
    const f = blobFiles();
    writeFileSync(f.blob, Buffer.alloc(40, 7));
    const blob = new GrowingBlob(40, f.ingest, f.blob);
    blob.finish();
    const pool = new BufferPool(16);
    const seen = new Set<ArrayBufferLike>();
    let total = 0;
    for await (const c of followBlob(blob, { pool })) {
      seen.add(c.buffer);
      total += c.length;
      pool.give(c);
    }
    expect(total).toBe(40);
    expect(seen.size).toBe(1);
  });
});
