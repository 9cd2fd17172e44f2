import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../lib/exec.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.js';
import { ensureHostPropagation, isShared, isSlave, mountOf, parseMountInfo, propagationProblem } from './mount-propagation.js';

const fixture = [
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '40 27 0:50 / /var/lib/kubelet rw,relatime shared:7 - tmpfs tmpfs rw',
  '41 40 0:51 / /var/lib/kubelet/pods/x rw master:7 - tmpfs tmpfs rw',
  '42 27 0:52 / /mnt/with\\040space rw - tmpfs tmpfs rw',
  '43 40 0:53 / /var/lib/kubelet rw shared:9 - tmpfs tmpfs rw',
  '',
].join('\n');

describe('mountinfo and propagation (fixture)', () => {
  const mounts = parseMountInfo(fixture);

  it('parses fields, optional tags and escapes', () => {
    expect(mounts).toHaveLength(5);
    expect(mounts[1]).toEqual({ id: 40, parentId: 27, root: '/', mountPoint: '/var/lib/kubelet', optional: ['shared:7'], fsType: 'tmpfs', source: 'tmpfs' });
    expect(mounts[3]!.mountPoint).toBe('/mnt/with space');
  });

  it('finds the mount a path lives on (longest prefix, top of a stack)', () => {
    expect(mountOf('/var/lib/kubelet/pods/x/volumes', mounts)!.id).toBe(41);
    expect(mountOf('/var/lib/kubelet/plugins', mounts)!.id).toBe(43);
    expect(mountOf('/var/lib/kubeletx', mounts)!.id).toBe(27);
    expect(mountOf('/mnt/with space/a', mounts)!.id).toBe(42);
  });

  it('tells shared, slave and private apart', () => {
    expect(isShared(mounts[1]!)).toBe(true);
    expect(isSlave(mounts[2]!)).toBe(true);
    expect(propagationProblem('/a', 'shared', mounts[2])).toMatch(/needs a shared host mount, but "\/var\/lib\/kubelet\/pods\/x" is not shared/);
    expect(propagationProblem('/a', 'sharedOrSlave', mounts[2])).toBeUndefined();
    expect(propagationProblem('/a', 'sharedOrSlave', mounts[0])).toMatch(/"\/" is private/);
    expect(propagationProblem('/a', 'shared', mounts[1])).toBeUndefined();
  });
});

describe.skipIf(process.getuid?.() !== 0)('host propagation on this machine (real tmpfs mount)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nexcage-prop-'));
  const mnt = join(dir, 'm');
  beforeAll(async () => {
    mkdirSync(mnt);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'nexcage-prop-test', mnt]);
    await run('mount', ['--make-private', mnt]);
    mkdirSync(join(mnt, 'data'));
  });
  afterAll(async () => {
    await run('umount', [mnt], { allowFailure: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a private source, then makes it shared when asked', async () => {
    const req = [{ hostPath: join(mnt, 'data'), propagation: 'shared' as const }];
    await expect(ensureHostPropagation(req)).rejects.toThrow(FailedPreconditionError);
    await expect(ensureHostPropagation(req)).rejects.toThrow(`mount "${join(mnt, 'data')}": bidirectional propagation needs a shared host mount`);
    await ensureHostPropagation(req, { makeShared: true });
    const m = mountOf(join(mnt, 'data'), parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')));
    expect(m!.mountPoint).toBe(mnt);
    expect(isShared(m!)).toBe(true);
    await ensureHostPropagation([{ hostPath: join(mnt, 'data'), propagation: 'sharedOrSlave' }]);
  });

  it('a missing host path is InvalidArgument', async () => {
    await expect(ensureHostPropagation([{ hostPath: join(dir, 'nope'), propagation: 'shared' }])).rejects.toThrow(InvalidArgumentError);
  });

  it('requirements without propagation need nothing', async () => {
    await ensureHostPropagation([{ hostPath: '/does/not/matter', relabel: true }]);
  });
});
