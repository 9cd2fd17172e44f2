// The content store's refusals and edges with in-process blob sources: size and digest checks on
// read/put, sources that start at the wrong byte or keep ending early, a caller already gone, a
// partial larger than the blob, a download asked for again while a cancelled one winds down, and
// what GC and the image-fs usage see.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from '../lib/errors.js';
import type { BlobSource } from './content-store.js';
import { sha256 } from './digest.js';
import { LocalContentStore } from './local-content-store.js';

const dir = mkdtempSync('/tmp/nexcage-content-edges-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function store(): Promise<{ s: LocalContentStore; root: string }> {
  const root = join(dir, `s${++n}`);
  const s = new LocalContentStore(root);
  await s.init();
  return { s, root };
}

const data = Buffer.from('0123456789'.repeat(100));
const desc = { digest: sha256(data), size: data.length };

describe('LocalContentStore edges', () => {
  it('read refuses a blob over the limit; put refuses bytes that are not the digest and keeps one copy', async () => {
    const { s } = await store();
    await s.put(desc.digest, data);
    await s.put(desc.digest, data);
    expect(await s.list()).toEqual([desc.digest]);
    expect(await s.read(desc.digest, data.length)).toEqual(data);
    await expect(s.read(desc.digest, 10)).rejects.toThrow(InvalidArgumentError);
    await expect(s.read(desc.digest, 10)).rejects.toThrow(`blob ${desc.digest} is 1000 bytes, over the 10 byte limit`);
    const err = await s.put(sha256('other'), data).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(`blob digest mismatch: expected ${sha256('other')}, got ${desc.digest} (1000 bytes)`);
  });

  it('a blob already stored is not fetched again', async () => {
    const { s } = await store();
    await s.put(desc.digest, data);
    let opened = 0;
    const r = await s.ingest(desc, () => {
      opened++;
      return Promise.reject(new Error('not expected'));
    });
    expect(r).toEqual({ fetched: false, bytesFetched: 0, resumed: false });
    expect(opened).toBe(0);
  });

  it('a caller already gone is refused without opening the source', async () => {
    const { s } = await store();
    const ctl = new AbortController();
    ctl.abort();
    let opened = 0;
    const src: BlobSource = () => {
      opened++;
      return Promise.resolve({ body: Readable.from([data]), start: 0 });
    };
    await expect(s.ingest(desc, src, { signal: ctl.signal })).rejects.toThrow(/cancelled, every caller went away/);
    expect(opened).toBe(0);
  });

  it('refuses a source that starts at a byte other than the one asked for or 0', async () => {
    const { s, root } = await store();
    writeFileSync(join(root, 'ingest', desc.digest.slice(7)), data.subarray(0, 100));
    const src: BlobSource = () => Promise.resolve({ body: Readable.from([data.subarray(50)]), start: 50 });
    const err = await s.ingest(desc, src, { attempts: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain(`blob ${desc.digest}: source started at byte 50, wanted 100`);
  });

  it('gives up on a source whose bodies keep ending early, or keep failing, naming the byte', async () => {
    const { s } = await store();
    const offsets: number[] = [];
    // The first body ends cleanly after 100 bytes, the next ones at once: no progress, the attempts run out.
    const short: BlobSource = (offset) => {
      offsets.push(offset);
      return Promise.resolve({ body: Readable.from(offset === 0 ? [data.subarray(0, 100)] : []), start: offset });
    };
    await expect(s.ingest(desc, short, { attempts: 3, backoffMs: 1 })).rejects.toThrow(`blob ${desc.digest}: body ended at byte 100 of 1000`);
    expect(offsets).toEqual([0, 100, 100]);

    const { s: t } = await store();
    const failing: BlobSource = () =>
      Promise.resolve({
        body: Readable.from(
          (async function* () {
            yield* [];
            throw new Error('ECONNRESET');
          })(),
        ),
        start: 0,
      });
    await expect(t.ingest(desc, failing, { attempts: 2, backoffMs: 1 })).rejects.toThrow(`blob ${desc.digest}: download failed at byte 0 of 1000: ECONNRESET`);
  });

  it('discards a partial larger than the blob and fetches it from byte 0', async () => {
    const { s, root } = await store();
    writeFileSync(join(root, 'ingest', desc.digest.slice(7)), Buffer.alloc(5000));
    const offsets: number[] = [];
    const src: BlobSource = (offset) => {
      offsets.push(offset);
      return Promise.resolve({ body: Readable.from([data.subarray(offset)]), start: offset });
    };
    const r = await s.ingest(desc, src);
    expect(r).toMatchObject({ fetched: true, bytesFetched: 1000, resumed: false });
    expect(offsets).toEqual([0]);
    expect(await s.read(desc.digest, 2000)).toEqual(data);
  });

  it('an ingest asked for while a cancelled download winds down starts afresh and completes', async () => {
    const { s } = await store();
    const bodies: PassThrough[] = [];
    const src: BlobSource = (offset) => {
      const body = new PassThrough();
      bodies.push(body);
      body.write(data.subarray(offset, offset + 100));
      if (bodies.length > 1) body.end(data.subarray(offset + 100));
      return Promise.resolve({ body, start: offset });
    };
    const ctl = new AbortController();
    const first = s.ingest(desc, src, { signal: ctl.signal });
    for (const end = Date.now() + 5000; bodies.length === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
    ctl.abort();
    const second = s.ingest(desc, src);
    await expect(first).rejects.toThrow(/cancelled/);
    const r = await second;
    expect(r.fetched).toBe(true);
    expect(await s.read(desc.digest, 2000)).toEqual(data);
  });

  it('lists partials nothing is pulling for GC, and counts blobs and partials in the usage', async () => {
    const { s, root } = await store();
    expect(await s.usage()).toEqual({ bytes: 0, inodes: 0 });
    await s.put(desc.digest, data);
    const partial = sha256('partial');
    writeFileSync(join(root, 'ingest', partial.slice(7)), Buffer.alloc(10_000));
    writeFileSync(join(root, 'ingest', 'not-a-digest'), 'x');
    expect(await s.ingests()).toEqual([partial]);
    const u = await s.usage();
    expect(u.inodes).toBe(3);
    expect(u.bytes).toBeGreaterThanOrEqual(10_000 + 1000);
    await s.delete(partial);
    expect(await s.ingests()).toEqual([]);
    expect(await s.has(partial)).toBe(false);
  });
});
