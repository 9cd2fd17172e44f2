import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { readRootfsFile, readUserFiles, resolveInRoot } from './rootfs-files.js';

const dir = mkdtempSync(join(tmpdir(), 'nexcage-rootfs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rootfs(name: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  return root;
}

describe('reading rootfs files', () => {
  it('reads /etc/passwd and /etc/group; missing files are undefined', async () => {
    const root = rootfs('plain');
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    expect(await readUserFiles(root)).toEqual({ passwd: 'root:x:0:0::/root:/bin/sh\n' });
    expect(await readUserFiles(rootfs('empty'))).toEqual({});
  });

  it('an absolute symlink is resolved inside the rootfs, never on the host', async () => {
    const root = rootfs('abs');
    mkdirSync(join(root, 'usr/share'), { recursive: true });
    writeFileSync(join(root, 'usr/share/passwd'), 'app:x:1000:1000::/:/bin/sh\n');
    symlinkSync('/usr/share/passwd', join(root, 'etc/passwd'));
    symlinkSync('/etc/hostname', join(root, 'etc/group')); // host's file must not be read
    expect(await readUserFiles(root)).toEqual({ passwd: 'app:x:1000:1000::/:/bin/sh\n' });
  });

  it('.. cannot climb out of the rootfs', async () => {
    const root = rootfs('dotdot');
    writeFileSync(join(dir, 'outside'), 'secret');
    symlinkSync('../../../../../../outside', join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/etc/passwd')).toBe(join(root, 'outside'));
    expect(await readRootfsFile(root, '/etc/passwd')).toBeUndefined();
    expect(await resolveInRoot(root, '/../../etc/x')).toBe(join(root, 'etc/x'));
  });

  it('symlink loops and non-files are InvalidArgument', async () => {
    const root = rootfs('loop');
    symlinkSync('/etc/b', join(root, 'etc/a'));
    symlinkSync('/etc/a', join(root, 'etc/b'));
    await expect(readRootfsFile(root, '/etc/a')).rejects.toThrow(/too many levels of symbolic links/);
    mkdirSync(join(root, 'etc/passwd'));
    await expect(readRootfsFile(root, '/etc/passwd')).rejects.toThrow(InvalidArgumentError);
  });

  it('refuses oversized files', async () => {
    const root = rootfs('big');
    writeFileSync(join(root, 'etc/group'), 'x'.repeat(100));
    await expect(readRootfsFile(root, '/etc/group', 10)).rejects.toThrow(/100 bytes is more than the 10 allowed/);
  });
});
