import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskUsageCache, mountpointOf, walkUsage } from './disk-usage.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nexcage-du-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MB = 1024 * 1024;

describe('directory usage walk', () => {
  it('counts disk bytes and inodes, hard links once, symlinks not followed', async () => {
    const root = join(dir, 'walk');
    await mkdir(join(root, 'a/b'), { recursive: true });
    const empty = await walkUsage(root);
    expect(empty.inodes).toBe(3);
    expect(empty.truncated).toBe(false);

    await writeFile(join(root, 'a/b/big'), Buffer.alloc(10 * MB, 7));
    await link(join(root, 'a/b/big'), join(root, 'a/hardlink'));
    await symlink('/usr', join(root, 'usr-link'));
    const u = await walkUsage(root);
    expect(u.bytes).toBeGreaterThanOrEqual(empty.bytes + 10 * MB);
    expect(u.bytes).toBeLessThan(empty.bytes + 11 * MB); // the hard link is not counted twice, /usr not walked
    expect(u.inodes).toBe(3 + 1 + 1); // dirs + file + symlink
    expect(u.timestampNs).toBeGreaterThan(empty.timestampNs - 1);
  });

  it('stops at its entry bound and says so', async () => {
    const root = join(dir, 'many');
    await mkdir(root);
    await Promise.all(Array.from({ length: 50 }, (_, i) => writeFile(join(root, `f${i}`), 'x')));
    const u = await walkUsage(root, { maxEntries: 10 });
    expect(u.truncated).toBe(true);
    expect(u.inodes).toBe(11);
  });

  it('large directories are streamed (opendir) with the same figures and bound as those read whole', async () => {
    const root = join(dir, 'streamed');
    await mkdir(join(root, 'sub'), { recursive: true });
    await Promise.all(Array.from({ length: 40 }, (_, i) => writeFile(join(root, i % 2 ? 'sub' : '', `f${i}`), Buffer.alloc(5000, 1))));
    const whole = await walkUsage(root);
    const streamed = await walkUsage(root, { readWholeMaxBytes: 0 });
    expect(streamed).toMatchObject({ bytes: whole.bytes, inodes: whole.inodes, truncated: false });
    expect(whole.inodes).toBe(42);
    const cut = await walkUsage(root, { readWholeMaxBytes: 0, maxEntries: 5 });
    expect(cut).toMatchObject({ truncated: true, inodes: 6 });
  });

  it('a missing root is an ENOENT error', async () => {
    await expect(walkUsage(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('disk usage cache', () => {
  it('answers from memory, walks in the background, and picks up growth on refresh', async () => {
    const root = join(dir, 'upper');
    await mkdir(root);
    const cache = new DiskUsageCache({ refreshMs: 50 });
    cache.start();
    try {
      cache.watch('c1', root);
      expect(cache.get('c1')).toBeUndefined(); // never blocks on a walk
      const first = await waitUntil(() => cache.get('c1'));
      await writeFile(join(root, 'blob'), Buffer.alloc(10 * MB, 1));
      const grown = await waitUntil(() => {
        const u = cache.get('c1');
        return u && u.bytes >= first.bytes + 10 * MB ? u : undefined;
      });
      expect(grown.inodes).toBe(first.inodes + 1);
      cache.unwatch('c1');
      expect(cache.get('c1')).toBeUndefined();
      expect(cache.keys()).toEqual([]);
    } finally {
      await cache.stop();
    }
  });

  it('refresh() walks now; a vanished dir keeps the last figure quietly', async () => {
    const root = join(dir, 'gone');
    await mkdir(root);
    const cache = new DiskUsageCache({ refreshMs: 60_000 });
    cache.watch('g', root);
    const u = await cache.refresh('g');
    expect(u?.inodes).toBe(1);
    await rm(root, { recursive: true });
    expect(await cache.refresh('g')).toEqual(u);
    await cache.stop();
  });
});

describe('mountpointOf', () => {
  it('finds the longest mount point containing the path', async () => {
    const mi = ['1 0 0:1 / / rw - ext4 /dev/vda rw', '2 1 0:2 / /var/lib rw - xfs /dev/vdb rw', '3 1 0:3 / /var/lib/nexcage/x rw - tmpfs t rw'].join('\n');
    expect(await mountpointOf('/tmp', mi)).toBe('/');
    expect(await mountpointOf('/proc/self', '1 0 0:1 / / rw - ext4 x rw\n4 1 0:4 / /proc rw - proc proc rw')).toBe('/proc');
    expect(await mountpointOf(dir)).toMatch(/^\//);
  });
});

async function waitUntil<T>(f: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('walk limits', () => {
  it('does not cross into another filesystem mounted inside the tree (like du -x)', async () => {
    const root = join(dir, 'xdev');
    await mkdir(join(root, 'mnt'), { recursive: true });
    await writeFile(join(root, 'own'), Buffer.alloc(MB, 1));
    const before = await walkUsage(root);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'nexcage-du-test', join(root, 'mnt')]);
    try {
      await writeFile(join(root, 'mnt', 'other-fs'), Buffer.alloc(4 * MB, 1));
      await mkdir(join(root, 'mnt', 'deeper'));
      const after = await walkUsage(root);
      // The mount point's own directory entry is on the other fs too: neither it nor its content counts.
      expect(after.inodes).toBe(before.inodes - 1);
      expect(after.bytes).toBeLessThan(before.bytes + MB);
    } finally {
      execFileSync('umount', [join(root, 'mnt')]);
    }
  });

  it('an aborted walk throws the abort reason', async () => {
    const root = join(dir, 'abort');
    await mkdir(root);
    await writeFile(join(root, 'f'), 'x');
    const ac = new AbortController();
    ac.abort(new Error('stopping'));
    await expect(walkUsage(root, { signal: ac.signal })).rejects.toThrow('stopping');
  });

  it('a file as the root is one inode; a root under a file is ENOTDIR', async () => {
    const file = join(dir, 'plain');
    await writeFile(file, Buffer.alloc(8192, 1));
    expect(await walkUsage(file)).toMatchObject({ inodes: 1, truncated: false, bytes: expect.any(Number) });
    await expect(walkUsage(join(file, 'x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});

describe('disk usage cache: edges', () => {
  it('logs a truncated walk and a failed one, keeps going, and answers refresh() of an unknown key with undefined', async () => {
    const root = join(dir, 'edges');
    await mkdir(root);
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeFile(join(root, `f${i}`), 'x')));
    await writeFile(join(dir, 'edges-file'), 'x');
    const warnings: { msg: string; key: string }[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => void warnings.push(JSON.parse(s) as { msg: string; key: string }) });
    const cache = new DiskUsageCache({ refreshMs: 60_000, maxEntries: 5, log });
    cache.watch('big', root);
    cache.watch('broken', join(dir, 'edges-file', 'below-a-file'));
    expect((await cache.refresh('big'))?.truncated).toBe(true);
    expect(await cache.refresh('broken')).toBeUndefined();
    expect(await cache.refresh('never-watched')).toBeUndefined();
    expect(warnings.map((w) => [w.key, w.msg])).toEqual(
      expect.arrayContaining([
        ['big', 'disk usage walk stopped at its entry bound'],
        ['broken', 'disk usage walk failed'],
      ]),
    );
    await cache.stop();
  });

  it('watching the same dir again keeps the figure; another dir starts over', async () => {
    const a = join(dir, 'rewatch-a');
    const b = join(dir, 'rewatch-b');
    await mkdir(a);
    await mkdir(join(b, 'sub'), { recursive: true });
    const cache = new DiskUsageCache({ refreshMs: 60_000 });
    cache.watch('c', a);
    const first = await cache.refresh('c');
    cache.watch('c', a);
    expect(cache.get('c')).toBe(first);
    cache.watch('c', b);
    expect(cache.get('c')).toBeUndefined();
    expect((await cache.refresh('c'))?.inodes).toBe(2);
    await cache.stop();
  });

  it('stop() ends the background walks; nothing is walked after it', async () => {
    const root = join(dir, 'stopped');
    await mkdir(root);
    const cache = new DiskUsageCache({ refreshMs: 50 });
    cache.start();
    cache.start(); // a second start is a no-op, not a second timer
    await cache.stop();
    cache.watch('late', root);
    await new Promise((r) => setTimeout(r, 200));
    expect(cache.get('late')).toBeUndefined();
  });
});
