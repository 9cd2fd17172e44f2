// The content store with an in-process blob source: resume after a cut, a crash partial that does
// not verify, a wrong digest, and oversize content. (The registry-backed paths are in test/e2e.)
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlobSource } from './content-store.js';
import { sha256 } from './digest.js';
import { LocalContentStore } from './local-content-store.js';

const dir = mkdtempSync('/tmp/nexcage-content-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function store(): Promise<LocalContentStore> {
  const s = new LocalContentStore(join(dir, `s${++n}`));
  await s.init();
  return s;
}

/** Serves `data` from the asked offset; the first `cuts` bodies stop after `cutAfter` bytes. */
function source(data: Buffer, opts: { cuts?: number; cutAfter?: number; ignoreRange?: boolean } = {}): { open: BlobSource; offsets: number[] } {
  const offsets: number[] = [];
  let cuts = opts.cuts ?? 0;
  const open: BlobSource = async (offset) => {
    offsets.push(offset);
    const start = opts.ignoreRange ? 0 : offset;
    let body = data.subarray(start);
    let fail = false;
    if (cuts > 0) {
      cuts--;
      body = body.subarray(0, opts.cutAfter ?? 10);
      fail = true;
    }
    const r = Readable.from(
      (async function* () {
        yield body;
        if (fail) throw new Error('connection reset');
      })(),
    );
    return { body: r, start };
  };
  return { open, offsets };
}

describe('LocalContentStore', () => {
  it('resumes from where a cut body ended and commits only a verified blob', async () => {
    const s = await store();
    const data = randomBytes(100_000);
    const src = source(data, { cuts: 2, cutAfter: 30_000 });
    const r = await s.ingest({ digest: sha256(data), size: data.length }, src.open, { backoffMs: 1 });
    expect(r).toMatchObject({ fetched: true, resumed: true, bytesFetched: 100_000 });
    expect(src.offsets).toEqual([0, 30_000, 60_000]);
    expect(await s.has(sha256(data))).toBe(true);
    expect(await s.ingests()).toEqual([]);
  });

  it('starts over when the source ignores the range', async () => {
    const s = await store();
    const data = randomBytes(50_000);
    const src = source(data, { cuts: 1, cutAfter: 20_000, ignoreRange: true });
    await s.ingest({ digest: sha256(data), size: data.length }, src.open, { backoffMs: 1 });
    expect((await s.read(sha256(data), 1e6)).equals(data)).toBe(true);
  });

  it('re-hashes a partial left by a crash and continues it; one that does not verify is discarded and fetched again', async () => {
    const s = await store();
    const data = randomBytes(80_000);
    const partial = join(dir, `s${n}`, 'ingest', sha256(data).slice(7));
    writeFileSync(partial, data.subarray(0, 50_000));
    const src = source(data);
    await s.ingest({ digest: sha256(data), size: data.length }, src.open);
    expect(src.offsets).toEqual([50_000]);

    const other = randomBytes(80_000);
    const bad = join(dir, `s${n}`, 'ingest', sha256(other).slice(7));
    writeFileSync(bad, randomBytes(50_000)); // garbage from an earlier run
    const src2 = source(other);
    await s.ingest({ digest: sha256(other), size: other.length }, src2.open);
    expect(src2.offsets).toEqual([50_000, 0]);
    expect((await s.read(sha256(other), 1e6)).equals(other)).toBe(true);
  });

  it('fails a digest mismatch naming both digests and keeps nothing', async () => {
    const s = await store();
    const data = randomBytes(1000);
    const want = sha256('something else');
    await expect(s.ingest({ digest: want, size: data.length }, source(data).open)).rejects.toThrow(`expected ${want}, got ${sha256(data)}`);
    expect(readdirSync(join(dir, `s${n}`, 'ingest'))).toEqual([]);
    expect(existsSync(s.path(want))).toBe(false);
  });

  it('refuses more bytes than the descriptor declares', async () => {
    const s = await store();
    const data = randomBytes(1000);
    await expect(s.ingest({ digest: sha256(data), size: 500 }, source(data).open)).rejects.toThrow(/more than the 500 bytes/);
  });

  it('shares one download between concurrent ingests of a digest', async () => {
    const s = await store();
    const data = randomBytes(10_000);
    const src = source(data);
    const [a, b] = await Promise.all([s.ingest({ digest: sha256(data), size: data.length }, src.open), s.ingest({ digest: sha256(data), size: data.length }, src.open)]);
    expect(src.offsets).toEqual([0]);
    expect([a.fetched, b.fetched].sort()).toEqual([false, true]);
  });
});
