import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
