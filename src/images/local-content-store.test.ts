// The content store with an in-process blob source: resume after a cut, a crash partial that does
// not verify, a wrong digest, oversize content, a source below the rate floor, and callers going
// away. (The registry-backed paths are in test/e2e and test/reliability.)
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it, vi } from 'vitest';
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

/** Sends `first` bytes from the asked offset at once and holds the rest until `release(i)`. */
function held(data: Buffer, first: number) {
  const opened: { offset: number; body: PassThrough; signal: AbortSignal }[] = [];
  const open: BlobSource = async (offset, signal) => {
    const body = new PassThrough();
    body.write(data.subarray(offset, offset + first));
    opened.push({ offset, body, signal });
    return { body, start: offset, origin: 'http://registry.test' };
  };
  const release = (i: number): void => {
    const o = opened[i]!;
    o.body.end(data.subarray(o.offset + first));
  };
  return { open, opened, release };
}

/** Sends one byte every 10 ms from the asked offset: alive, never idle, hopelessly slow. */
function trickle(data: Buffer): { open: BlobSource; offsets: number[] } {
  const offsets: number[] = [];
  const open: BlobSource = async (offset) => {
    offsets.push(offset);
    let at = offset;
    const body = new Readable({ read() {} });
    const timer = setInterval(() => {
      if (at < data.length) body.push(data.subarray(at, ++at));
    }, 10);
    body.on('close', () => clearInterval(timer));
    return { body, start: offset, origin: 'http://registry.test' };
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

  it('drops a connection below the rate floor, resumes it, and gives up after the attempts naming the source and the rate', async () => {
    const s = await store();
    const data = randomBytes(100_000);
    const src = trickle(data);
    const desc = { digest: sha256(data), size: data.length };
    const err = await s.ingest(desc, src.open, { backoffMs: 1, attempts: 3, minRate: { bytesPerSecond: 10_000, windowMs: 100 } }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      new RegExp(`^blob ${desc.digest}: too slow 3 times in a row: http://registry.test sent [\\d.]+ B/s over the last 0\\.\\d s, below registry.minBlobBytesPerSecond \\(10000 B/s\\) \\(at byte \\d+ of 100000\\)$`),
    );
    // Each new connection continued where the last one stopped; nothing was committed.
    expect(src.offsets).toHaveLength(3);
    expect(src.offsets[1]).toBeGreaterThan(0);
    expect(src.offsets[2]).toBeGreaterThan(src.offsets[1]!);
    expect(await s.has(desc.digest)).toBe(false);
    expect(await s.ingests()).toEqual([desc.digest]);
  });

  it('stops a download whose only caller went away: body destroyed, partial kept, the next ingest resumes it', async () => {
    const s = await store();
    const data = randomBytes(200_000);
    const desc = { digest: sha256(data), size: data.length };
    const src = held(data, 64 * 1024);
    const caller = new AbortController();
    const first = s.ingest(desc, src.open, { signal: caller.signal });
    const partial = join(dir, `s${n}`, 'ingest', desc.digest.slice(7));
    await vi.waitFor(() => expect(existsSync(partial) && statSync(partial).size).toBe(64 * 1024), { timeout: 5000 });
    caller.abort();
    await expect(first).rejects.toThrow(/cancelled, every caller went away/);
    await vi.waitFor(() => expect(src.opened[0]!.body.destroyed).toBe(true), { timeout: 5000 });
    expect(src.opened[0]!.signal.aborted).toBe(true);
    await vi.waitFor(async () => expect(await s.ingests()).toEqual([desc.digest]), { timeout: 5000 });
    expect(await s.has(desc.digest)).toBe(false);

    const again = source(data);
    expect(await s.ingest(desc, again.open)).toMatchObject({ fetched: true, resumed: true, bytesFetched: 200_000 - 64 * 1024 });
    expect(again.offsets).toEqual([64 * 1024]);
    expect((await s.read(desc.digest, 1e6)).equals(data)).toBe(true);
  });

  it('keeps a shared download going while one of its callers remains', async () => {
    const s = await store();
    const data = randomBytes(100_000);
    const desc = { digest: sha256(data), size: data.length };
    const src = held(data, 1000);
    const leaves = new AbortController();
    const stays = new AbortController();
    const a = s.ingest(desc, src.open, { signal: leaves.signal });
    const b = s.ingest(desc, src.open, { signal: stays.signal });
    await vi.waitFor(() => expect(src.opened).toHaveLength(1), { timeout: 5000 });
    leaves.abort();
    await expect(a).rejects.toThrow(/cancelled/);
    expect(src.opened[0]!.signal.aborted).toBe(false);
    src.release(0);
    await expect(b).resolves.toMatchObject({ fetched: false });
    expect((await s.read(desc.digest, 1e6)).equals(data)).toBe(true);
    expect(src.opened).toHaveLength(1);
  });
});
