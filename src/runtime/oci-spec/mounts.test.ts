import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { HostFacts, SandboxFacts } from '../container/container-config.js';
import { bindMount, checkContainerPath, hostMountRequirements, planMounts, sandboxMounts } from './mounts.js';
import { testHost } from './test-host.js';

const host: HostFacts = testHost();
const sandbox: SandboxFacts = {
  id: 'sb1',
  name: 'pod',
  namespace: 'default',
  uid: 'u1',
  netnsPath: '/var/run/netns/cni-1',
  infraPid: 4242,
  namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
  cgroupParent: '/kubepods/pod-u1',
  hostname: 'pod',
  hostsPath: '/state/sb1/hosts',
  resolvConfPath: '/state/sb1/resolv.conf',
  hostnamePath: '/state/sb1/hostname',
  shmPath: '/run/nexcage/sb1/shm',
  privileged: false,
};

describe('container paths', () => {
  it('must be absolute and without ..', () => {
    expect(checkContainerPath('/data/', 'mount')).toBe('/data');
    expect(checkContainerPath('/a//b/./c', 'mount')).toBe('/a/b/c');
    expect(() => checkContainerPath('data', 'mount')).toThrow(InvalidArgumentError);
    expect(() => checkContainerPath('data', 'mount')).toThrow('mount "data": container path must be absolute');
    expect(() => checkContainerPath('/data/../etc', 'mount')).toThrow('must not contain ".."');
  });
});

describe('bind mounts', () => {
  it.each([
    ['PROPAGATION_PRIVATE', false, ['rbind', 'rprivate', 'rw'], undefined],
    ['PROPAGATION_PRIVATE', true, ['rbind', 'rprivate', 'ro'], undefined],
    ['PROPAGATION_HOST_TO_CONTAINER', false, ['rbind', 'rslave', 'rw'], 'rslave'],
    ['PROPAGATION_BIDIRECTIONAL', false, ['rbind', 'rshared', 'rw'], 'rshared'],
  ] as const)('%s readonly=%s -> %j', (propagation, readonly, options, rootfsPropagation) => {
    const b = bindMount({ containerPath: '/data', hostPath: '/srv/data', readonly, propagation }, host);
    expect(b.mount).toEqual({ destination: '/data', type: 'bind', source: '/srv/data', options });
    expect(b.rootfsPropagation).toBe(rootfsPropagation);
  });

  it('recursive read-only uses rro when supported and is refused otherwise', () => {
    expect(bindMount({ containerPath: '/d', hostPath: '/s', readonly: true, recursiveReadOnly: true }, host).mount.options).toEqual([
      'rbind',
      'rprivate',
      'rro',
    ]);
    expect(() => bindMount({ containerPath: '/d', hostPath: '/s', readonly: true, recursiveReadOnly: true }, { ...host, supportsRecursiveReadOnly: false })).toThrow(
      /not supported on this node/,
    );
    expect(() => bindMount({ containerPath: '/d', hostPath: '/s', readonly: false, recursiveReadOnly: true }, host)).toThrow(/needs readonly/);
    expect(() =>
      bindMount({ containerPath: '/d', hostPath: '/s', readonly: true, recursiveReadOnly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }, host),
    ).toThrow(/needs private propagation/);
  });

  it('rejects relative paths, unresolved image volumes and id mappings', () => {
    expect(() => bindMount({ containerPath: 'rel', hostPath: '/s' }, host)).toThrow(InvalidArgumentError);
    expect(() => bindMount({ containerPath: '/x/../y', hostPath: '/s' }, host)).toThrow(InvalidArgumentError);
    expect(() => bindMount({ containerPath: '/d', hostPath: 'srv' }, host)).toThrow(/host path "srv" must be absolute/);
    expect(() => bindMount({ containerPath: '/d', hostPath: '', image: { image: 'busybox' } }, host)).toThrow(/image volume "busybox"/);
    expect(() => bindMount({ containerPath: '/d', hostPath: '/s', uidMappings: [{ hostId: 1000, containerId: 0, length: 1 }] }, host)).toThrow(
      /user namespaces/,
    );
  });
});

describe('mount plan', () => {
  const extra = sandboxMounts(sandbox, false, 'POD');

  it('brings the pod hosts/hostname/resolv.conf and /dev/shm', () => {
    expect(extra).toEqual([
      { containerPath: '/etc/hostname', hostPath: '/state/sb1/hostname', readonly: false, selinuxRelabel: true },
      { containerPath: '/etc/hosts', hostPath: '/state/sb1/hosts', readonly: false, selinuxRelabel: true },
      { containerPath: '/etc/resolv.conf', hostPath: '/state/sb1/resolv.conf', readonly: false, selinuxRelabel: true },
      { containerPath: '/dev/shm', hostPath: '/run/nexcage/sb1/shm', readonly: false, selinuxRelabel: true },
    ]);
    expect(sandboxMounts(sandbox, true, 'POD')[0]!.readonly).toBe(true);
    expect(sandboxMounts(sandbox, false, 'NODE').find((m) => m.containerPath === '/dev/shm')?.hostPath).toBe('/dev/shm');
    expect(sandboxMounts({ ...sandbox, hostsPath: undefined }, false, 'POD').some((m) => m.containerPath === '/etc/hosts')).toBe(false);
  });

  it('defaults first, the pod shm replaces the default tmpfs, CRI mounts by depth', () => {
    const plan = planMounts(
      [
        { containerPath: '/dev/termination-log', hostPath: '/var/lib/kubelet/pods/u1/containers/c/0' },
        { containerPath: '/var/run/secrets/kubernetes.io/serviceaccount', hostPath: '/sa', readonly: true },
        { containerPath: '/data', hostPath: '/srv/data' },
      ],
      extra,
      host,
      false,
    );
    const dests = plan.mounts.map((m) => m.destination);
    expect(dests).toEqual([
      '/proc',
      '/dev',
      '/dev/pts',
      '/dev/mqueue',
      '/sys',
      '/sys/fs/cgroup',
      '/data',
      '/dev/termination-log',
      '/etc/hostname',
      '/etc/hosts',
      '/etc/resolv.conf',
      '/dev/shm',
      '/var/run/secrets/kubernetes.io/serviceaccount',
    ]);
    // the termination log lands on the /dev tmpfs mounted before it
    expect(dests.indexOf('/dev')).toBeLessThan(dests.indexOf('/dev/termination-log'));
    expect(plan.mounts.find((m) => m.destination === '/dev/shm')).toEqual({
      destination: '/dev/shm',
      type: 'bind',
      source: '/run/nexcage/sb1/shm',
      options: ['rbind', 'rprivate', 'rw'],
    });
    expect(plan.rootfsPropagation).toBeUndefined();
  });

  it('a CRI mount of /etc/hosts wins over the pod file; a CRI /dev drops all default /dev mounts', () => {
    const plan = planMounts(
      [
        { containerPath: '/etc/hosts', hostPath: '/my/hosts' },
        { containerPath: '/dev', hostPath: '/dev' },
      ],
      extra,
      host,
      false,
    );
    expect(plan.mounts.filter((m) => m.destination === '/etc/hosts')).toEqual([
      { destination: '/etc/hosts', type: 'bind', source: '/my/hosts', options: ['rbind', 'rprivate', 'rw'] },
    ]);
    expect(plan.mounts.filter((m) => m.destination === '/dev')).toHaveLength(1);
    expect(plan.mounts.find((m) => m.destination === '/dev')?.type).toBe('bind');
    expect(plan.mounts.some((m) => m.destination === '/dev/pts')).toBe(false);
  });

  it('rshared wins over rslave for the rootfs propagation', () => {
    expect(planMounts([{ containerPath: '/a', hostPath: '/a', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }], [], host, false).rootfsPropagation).toBe('rslave');
    expect(
      planMounts(
        [
          { containerPath: '/a', hostPath: '/a', propagation: 'PROPAGATION_BIDIRECTIONAL' },
          { containerPath: '/b', hostPath: '/b', propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
        ],
        [],
        host,
        false,
      ).rootfsPropagation,
    ).toBe('rshared');
  });

  it('privileged gets read-write sysfs and cgroup', () => {
    const m = planMounts([], [], host, true).mounts;
    expect(m.find((x) => x.destination === '/sys')?.options).toEqual(['nosuid', 'noexec', 'nodev', 'rw']);
    expect(m.find((x) => x.destination === '/sys/fs/cgroup')?.options).not.toContain('ro');
    expect(planMounts([], [], host, false).mounts.find((x) => x.destination === '/sys')?.options).toContain('ro');
  });
});

describe('host mount requirements', () => {
  it('asks for shared / shared-or-slave sources and relabels only with SELinux on', () => {
    const mounts = [
      { containerPath: '/a', hostPath: '/a', propagation: 'PROPAGATION_BIDIRECTIONAL' as const },
      { containerPath: '/b', hostPath: '/b', propagation: 'PROPAGATION_HOST_TO_CONTAINER' as const, selinuxRelabel: true },
      { containerPath: '/c', hostPath: '/c' },
      { containerPath: '/e', hostPath: '/etc', selinuxRelabel: true },
    ];
    expect(hostMountRequirements(mounts, host)).toEqual([
      { hostPath: '/a', propagation: 'shared' },
      { hostPath: '/b', propagation: 'sharedOrSlave' },
    ]);
    expect(hostMountRequirements(mounts, { ...host, selinuxEnabled: true })).toEqual([
      { hostPath: '/a', propagation: 'shared' },
      { hostPath: '/b', propagation: 'sharedOrSlave', relabel: true },
    ]);
  });
});
