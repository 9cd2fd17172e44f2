import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDeletedFiles, unpackRootfsDiff, writeRootfsDiff } from './container-checkpoint-rootfs.js';

// An overlay upper dir laid out by hand, as overlayfs leaves it (root: whiteouts are char 0/0
// devices, an opaque dir carries trusted.overlay.opaque="y").
let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-rootfs-diff-'));
  for (const d of ['lower/etc', 'lower/data', 'lower/opaque', 'upper/etc', 'upper/data', 'upper/opaque', 'upper/dev', 'upper/proc', 'out', 'new-upper', 'rootfs/etc', 'rootfs/data']) mkdirSync(p(d), { recursive: true });
  writeFileSync(p('lower/etc/motd'), 'image\n');
  writeFileSync(p('lower/data/file.txt'), 'image\n');
  writeFileSync(p('lower/opaque/old.txt'), 'hidden\n');
  writeFileSync(p('lower/opaque/old2.txt'), 'hidden\n');
  writeFileSync(p('upper/marker'), 'created\n');
  writeFileSync(p('upper/etc/motd'), 'changed\n');
  writeFileSync(p('upper/etc/hosts'), ''); // a bind-mount destination: left out
  writeFileSync(p('upper/dev/big'), 'on a tmpfs'); // under a mount destination: left out
  execFileSync('mknod', [p('upper/data/file.txt'), 'c', '0', '0']);
  writeFileSync(p('upper/opaque/mine.txt'), 'mine\n');
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', p('upper/opaque')]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the writable layer of a checkpoint', () => {
  it('tars what was added or changed and lists what was deleted, also under an opaque dir', async () => {
    const r = await writeRootfsDiff(p('upper'), [p('lower')], ['/proc', '/dev', '/etc/hosts'], p('out'), 10_000);
    const listed = execFileSync('tar', ['--list', '--file', p('out', 'rootfs-diff.tar')], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(listed.sort()).toEqual(['data/', 'etc/', 'etc/motd', 'marker', 'opaque/', 'opaque/mine.txt'].sort());
    expect(r.entries).toBe(6);
    const deleted = JSON.parse(readFileSync(p('out', 'deleted.files'), 'utf8')) as string[];
    expect(deleted).toEqual(['/data/file.txt', '/opaque/old.txt', '/opaque/old2.txt']);
  });

  it('is unpacked into a new upper dir and its deletions applied through the rootfs, never outside it', async () => {
    await unpackRootfsDiff(p('out'), p('new-upper'), 10_000);
    expect(readFileSync(p('new-upper', 'etc/motd'), 'utf8')).toBe('changed\n');
    expect(readFileSync(p('new-upper', 'marker'), 'utf8')).toBe('created\n');
    // The "rootfs": what the image had, and an absolute symlink that would lead out of it.
    writeFileSync(p('rootfs/data/file.txt'), 'image\n');
    mkdirSync(p('rootfs/opaque'));
    writeFileSync(p('rootfs/opaque/old.txt'), 'x');
    const outside = p('outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim'), 'must stay');
    symlinkSync(outside, p('rootfs/escape'));
    writeFileSync(p('out', 'deleted.files'), JSON.stringify(['/data/file.txt', '/opaque/old.txt', '/escape/victim', '/escape']));
    expect(await removeDeletedFiles(p('out'), p('rootfs'))).toBe(4);
    expect(existsSync(p('rootfs/data/file.txt'))).toBe(false);
    expect(existsSync(p('rootfs/opaque/old.txt'))).toBe(false);
    expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('must stay');
    expect(() => lstatSync(p('rootfs/escape'))).toThrow(); // the link itself went, not its target
  });

  it('refuses a deleted path that climbs out', async () => {
    writeFileSync(p('out', 'deleted.files'), JSON.stringify(['/../../etc/passwd']));
    await expect(removeDeletedFiles(p('out'), p('rootfs'))).rejects.toThrow('not a clean absolute path');
    writeFileSync(p('out', 'deleted.files'), '{"not": "a list"}');
    await expect(removeDeletedFiles(p('out'), p('rootfs'))).rejects.toThrow('not a list of paths');
  });
});
