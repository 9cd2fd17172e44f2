import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { listDevices, resolveDevices, splitDev, statDevice } from './device-info.js';

const dir = mkdtempSync(join(tmpdir(), 'nexcage-dev-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('host device info (real /dev nodes)', () => {
  it('splits dev_t like glibc, including large majors and minors', () => {
    expect(splitDev(0x0103n)).toEqual({ major: 1, minor: 3 });
    expect(splitDev((0x123n << 8n) | 0x45n)).toEqual({ major: 0x123, minor: 0x45 });
    // major 4096 (high bits) and minor 256 (high bits)
    expect(splitDev((4096n << 32n) | (256n << 12n))).toEqual({ major: 4096, minor: 256 });
  });

  it('reads /dev/null as char 1:3 mode 0666', async () => {
    expect(await statDevice('/dev/null')).toEqual({ path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 });
  });

  it('follows a symlink to a device and maps the container path', async () => {
    const link = join(dir, 'mynull');
    symlinkSync('/dev/null', link);
    const [d] = await resolveDevices([{ hostPath: link, containerPath: '/dev/xnull', permissions: 'rw' }]);
    expect(d).toMatchObject({ containerPath: '/dev/xnull', type: 'c', major: 1, minor: 3, permissions: 'rw' });
  });

  it('a missing or non-device path is InvalidArgument naming it', async () => {
    await expect(resolveDevices([{ hostPath: '/dev/does-not-exist', containerPath: '/dev/x', permissions: 'rwm' }])).rejects.toThrow(
      'device "/dev/does-not-exist": does not exist',
    );
    const file = join(dir, 'plain');
    writeFileSync(file, '');
    await expect(resolveDevices([{ hostPath: file, containerPath: '/dev/x', permissions: 'rwm' }])).rejects.toThrow(InvalidArgumentError);
    await expect(resolveDevices([{ hostPath: file, containerPath: '/dev/x', permissions: 'rwm' }])).rejects.toThrow(/not a character or block device/);
  });

  it('a directory maps every node below it (here /dev/net)', async () => {
    const devs = await resolveDevices([{ hostPath: '/dev/net', containerPath: '/dev/hostnet', permissions: 'r' }]);
    expect(devs.length).toBeGreaterThan(0);
    expect(devs).toContainEqual(expect.objectContaining({ path: '/dev/net/tun', containerPath: '/dev/hostnet/tun', major: 10, minor: 200 }));
  });

  it('lists host devices for privileged containers without pts/shm/console', async () => {
    const all = await listDevices();
    expect(all.find((d) => d.path === '/dev/null')).toMatchObject({ major: 1, minor: 3 });
    expect(all.some((d) => d.path.startsWith('/dev/pts/') || d.path === '/dev/console')).toBe(false);
  });
});
