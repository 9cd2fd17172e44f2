import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.js';
import type { HostFacts } from '../container-config.js';
import { allCapabilities, defaultCapabilities, defaultMaskedPaths } from './defaults.js';
import { buildSandboxSpec, type SandboxSpecInput } from './sandbox-spec.js';
import { testHost } from './test-host.js';

const host: HostFacts = testHost();
const input = (over: Partial<SandboxSpecInput> = {}): SandboxSpecInput => ({
  id: 'sb1',
  name: 'web',
  namespace: 'default',
  uid: 'uid-1',
  hostname: 'web-0',
  args: ['/catatonit', '-P'],
  netnsPath: '/var/run/netns/cni-1',
  namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'POD' },
  cgroupParent: '/kubepods/besteffort/poduid-1',
  shmPath: '/run/nexcage/sb1/shm',
  host,
  ...over,
});

describe('buildSandboxSpec (infra container)', () => {
  it('runs the infra command read-only as root with no_new_privs and the pod hostname', () => {
    const s = buildSandboxSpec(input());
    expect(s.process).toMatchObject({
      args: ['/catatonit', '-P'],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [0] },
      noNewPrivileges: true,
      terminal: false,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 }],
    });
    expect(s.process!.capabilities!.bounding).toEqual(defaultCapabilities());
    expect(s.root).toEqual({ path: 'rootfs', readonly: true });
    expect(s.hostname).toBe('web-0');
    expect(s.linux!.maskedPaths).toEqual(defaultMaskedPaths());
    expect(s.linux!.cgroupsPath).toBe('/kubepods/besteffort/poduid-1/sb1');
    expect(s.annotations!['io.kubernetes.cri.container-type']).toBe('sandbox');
  });

  it('asks for containerd oom_score_adj -998 but never below the daemon own', () => {
    expect(buildSandboxSpec(input()).process!.oomScoreAdj).toBe(0);
    expect(buildSandboxSpec(input({ host: { ...host, daemonOomScoreAdj: -999 } })).process!.oomScoreAdj).toBe(-998);
  });

  it('creates ipc/uts/pid namespaces and joins the pinned netns', () => {
    expect(buildSandboxSpec(input()).linux!.namespaces).toEqual([
      { type: 'mount' },
      { type: 'network', path: '/var/run/netns/cni-1' },
      { type: 'uts' },
      { type: 'ipc' },
      { type: 'pid' },
    ]);
  });

  it('host network/ipc/pid pods use the host namespaces and /dev/shm, and no hostname', () => {
    const s = buildSandboxSpec(input({ netnsPath: undefined, namespaceOptions: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } }));
    expect(s.linux!.namespaces).toEqual([{ type: 'mount' }]);
    expect(s.hostname).toBeUndefined();
    expect(s.mounts!.find((m) => m.destination === '/dev/shm')).toMatchObject({ type: 'bind', source: '/dev/shm' });
  });

  it('a pod network without a netns path is InvalidArgument', () => {
    expect(() => buildSandboxSpec(input({ netnsPath: undefined }))).toThrow(InvalidArgumentError);
  });

  it('mounts the pod shm read-only in the infra container', () => {
    expect(buildSandboxSpec(input()).mounts!.find((m) => m.destination === '/dev/shm')).toEqual({
      destination: '/dev/shm',
      type: 'bind',
      source: '/run/nexcage/sb1/shm',
      options: ['rbind', 'rprivate', 'ro'],
    });
  });

  it('sysctls, run-as user, systemd cgroup path and cgroup v2 namespace', () => {
    const s = buildSandboxSpec(
      input({
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
        securityContext: { runAsUser: 65535, runAsGroup: 65535, supplementalGroups: [1, 65535] },
        cgroupParent: 'kubepods-besteffort-poduid_1.slice',
        host: { ...host, cgroupDriver: 'systemd', cgroupV2: true },
      }),
    );
    expect(s.linux!.sysctl).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0' });
    expect(s.process!.user).toEqual({ uid: 65535, gid: 65535, additionalGids: [65535, 1] });
    expect(s.linux!.cgroupsPath).toBe('kubepods-besteffort-poduid_1.slice:cri-nexcage:sb1');
    expect(s.linux!.namespaces).toContainEqual({ type: 'cgroup' });
  });

  it('privileged pods: all caps, no masks, no seccomp; RuntimeDefault seccomp otherwise', () => {
    const p = buildSandboxSpec(input({ securityContext: { privileged: true, seccomp: { profileType: 'RuntimeDefault' } } }));
    expect(p.process!.capabilities!.bounding).toEqual(allCapabilities());
    expect(p.linux!.maskedPaths).toBeUndefined();
    expect(p.linux!.seccomp).toBeUndefined();
    expect(p.linux!.resources!.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(buildSandboxSpec(input({ securityContext: { seccomp: { profileType: 'RuntimeDefault' } } })).linux!.seccomp!.defaultAction).toBe('SCMP_ACT_ERRNO');
  });
});
