// Container root filesystems mounted for real (root, overlayfs on the temp dir): the overlay of an
// image's layers with the container's writable layer, the short-symlink form for images whose
// layer paths do not fit in one page of mount options, read-only image volumes, and unmounting
// everything below a dir (also when a mount is busy).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { until } from '../test-fakes.js';
import { isMounted, mountImageReadOnly, mountRootfs, unmountAll, unmountRootfs } from './container-rootfs.js';

let root = '';

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Layer dirs l0 (bottom) .. l<n-1>, each with its own file and a shared one the upper layers override. */
function layers(n: number, base = root, name = (i: number) => `l${i}`): string[] {
  return Array.from({ length: n }, (_, i) => {
    const d = join(base, name(i));
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `only-${i}`), `${i}`);
    writeFileSync(join(d, 'shared'), `layer ${i}`);
    return d;
  });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'nexcage-rootfs-'));
});
afterEach(() => {
  for (const m of mountsUnder(root).reverse()) execFileSync('umount', ['--lazy', m]);
  rmSync(root, { recursive: true, force: true });
});

describe('container rootfs', () => {
  it("is the image's layers, top-most winning, with writes going to the container's upper dir", async () => {
    const record = join(root, 'rec');
    const target = join(root, 'rec', 'rootfs');
    const r = await mountRootfs(layers(3), record, target, { uid: 1234, gid: 5678 });
    expect(r).toEqual({ upperDir: join(record, 'upper'), workDir: join(record, 'work') });
    expect(await isMounted(target)).toBe(true);
    expect(readdirSync(target).sort()).toEqual(['only-0', 'only-1', 'only-2', 'shared']);
    expect(readFileSync(join(target, 'shared'), 'utf8')).toBe('layer 2');
    writeFileSync(join(target, 'new'), 'mine');
    expect(readFileSync(join(record, 'upper', 'new'), 'utf8')).toBe('mine');
    expect(readFileSync(join(root, 'l2', 'shared'), 'utf8')).toBe('layer 2'); // layers untouched
    // The writable layer's root is the owner's (a user-namespaced pod's root).
    expect(statSync(target)).toMatchObject({ uid: 1234, gid: 5678 });
    await unmountRootfs(target);
    expect(await isMounted(target)).toBe(false);
    await unmountRootfs(target); // not mounted: fine
  });

  it('mounts images whose layer paths do not fit in one page of options, through short symlinks', async () => {
    const deep = join(root, 'snapshots', 'x'.repeat(200));
    const many = layers(40, deep, (i) => `${String(i).padStart(64, '0')}/fs`);
    const record = join(root, 'rec');
    await mountRootfs(many, record, join(record, 'rootfs'));
    expect(readdirSync(join(record, 'l'))).toHaveLength(40);
    expect(readFileSync(join(record, 'rootfs', 'shared'), 'utf8')).toBe('layer 39');
    expect(readFileSync(join(record, 'rootfs', 'only-0'), 'utf8')).toBe('0');
  });

  it('refuses an image without layers before mounting anything', async () => {
    await expect(mountRootfs([], join(root, 'rec'), join(root, 'rec', 'rootfs'))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(mountsUnder(root)).toEqual([]);
  });
});

describe('image volumes', () => {
  it('of one layer: the layer bound read-only', async () => {
    const [layer] = layers(1);
    const target = join(root, 'vol');
    await mountImageReadOnly([layer as string], join(root, 'volwork'), target);
    expect(readFileSync(join(target, 'only-0'), 'utf8')).toBe('0');
    expect(() => writeFileSync(join(target, 'x'), 'x')).toThrow(/EROFS/);
  });

  it('of several layers: a read-only overlay of them, also when their paths are long', async () => {
    const target = join(root, 'vol');
    await mountImageReadOnly(layers(3), join(root, 'volwork'), target);
    expect(readFileSync(join(target, 'shared'), 'utf8')).toBe('layer 2');
    expect(() => writeFileSync(join(target, 'x'), 'x')).toThrow(/EROFS/);
    const deep = join(root, 'snapshots', 'y'.repeat(200));
    const many = layers(40, deep, (i) => `${String(i).padStart(64, '0')}/fs`);
    await mountImageReadOnly(many, join(root, 'volwork2'), join(root, 'vol2'));
    expect(readdirSync(join(root, 'volwork2', 'l'))).toHaveLength(40);
    expect(readFileSync(join(root, 'vol2', 'only-0'), 'utf8')).toBe('0');
  });
});

describe('unmounting everything below a dir', () => {
  it('goes deepest first, takes names with spaces, and detaches a busy mount lazily', async () => {
    const record = join(root, 'rec');
    await mountRootfs(layers(2), record, join(record, 'rootfs'));
    const [layer] = layers(1, root, () => 'vol layer');
    await mountImageReadOnly([layer as string], join(record, 'volwork'), join(record, 'rootfs', 'my vol'));
    // A process with its cwd in the rootfs keeps it busy: umount fails, umount -l detaches.
    const busy = spawn('sleep', ['30'], { cwd: join(record, 'rootfs'), stdio: 'ignore' });
    try {
      await until('the busy process to start', () => existsSync(`/proc/${busy.pid}/cwd`));
      expect(mountsUnder(record)).toHaveLength(2);
      await unmountAll(record);
      expect(mountsUnder(record)).toEqual([]);
    } finally {
      busy.kill('SIGKILL');
    }
  });
});
