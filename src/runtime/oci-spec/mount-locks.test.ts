import { describe, expect, it } from 'vitest';
import { keepLockedFlags, lockedFlags, parseMountinfo } from './mount-locks.js';
import type { Spec } from './types.js';

const MOUNTINFO = [
  '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '30 22 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw',
  '40 22 0:40 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw',
  '41 40 0:41 / /run/pods/p1/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k',
  '42 22 0:42 / /srv/ro ro,noatime - ext4 /dev/vdb ro',
  '43 22 0:43 / /srv/strict rw - tmpfs t rw',
  '44 22 0:44 / /srv/with\\040space rw,nodev,relatime - tmpfs t rw',
].join('\n');

describe('lockedFlags', () => {
  const mounts = parseMountinfo(MOUNTINFO);
  it('takes the flags of the innermost mount holding the path', () => {
    expect(lockedFlags(mounts, '/var/lib/kubelet/pods/x')).toEqual([]);
    expect(lockedFlags(mounts, '/run/pods/p1/shm')).toEqual(['nosuid', 'nodev', 'noexec']);
    expect(lockedFlags(mounts, '/run/pods/p1/hosts')).toEqual(['nosuid', 'nodev', 'noexec']);
    expect(lockedFlags(mounts, '/dev/null')).toEqual(['nosuid']);
    expect(lockedFlags(mounts, '/srv/ro/a')).toEqual(['ro', 'noatime']);
    expect(lockedFlags(mounts, '/srv/strict')).toEqual(['strictatime']);
    expect(lockedFlags(mounts, '/srv/with space/f')).toEqual(['nodev']);
    // a sibling whose name only starts like a mount point is not inside it
    expect(lockedFlags(mounts, '/srv/rox')).toEqual([]);
  });
});

describe('keepLockedFlags', () => {
  it('adds the source\'s locked flags to binds only; a read-only source stays read-only', async () => {
    const spec: Spec = {
      ociVersion: '1.0.2',
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid'] },
        { destination: '/dev/shm', type: 'bind', source: '/run/pods/p1/shm', options: ['rbind', 'rprivate', 'ro'] },
        { destination: '/data', type: 'bind', source: '/srv/ro/data', options: ['rbind', 'rprivate', 'rw'] },
        { destination: '/etc/hosts', type: 'bind', source: '/var/lib/pods/hosts', options: ['rbind', 'rprivate', 'rw'] },
      ],
    };
    await keepLockedFlags(spec, MOUNTINFO);
    expect(spec.mounts?.map((m) => m.options)).toEqual([
      ['nosuid'],
      ['rbind', 'rprivate', 'ro', 'nosuid', 'nodev', 'noexec'],
      ['rbind', 'rprivate', 'ro', 'noatime'],
      ['rbind', 'rprivate', 'rw'],
    ]);
  });
});
