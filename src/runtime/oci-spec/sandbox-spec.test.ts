import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { HostFacts } from '../container/container-config.js';
import { DEFAULT_PATH_ENV, allCapabilities, defaultCapabilities, defaultDeviceCgroupRules, defaultMaskedPaths } from './defaults.js';
import { buildSandboxSpec, type SandboxSpecInput } from './sandbox-spec.js';
import { runtimeDefaultSeccomp } from './seccomp-default.js';
import { parseSeccompProfile } from './seccomp-localhost.js';
import { testHost } from './test-host.js';
import type { Seccomp, Spec } from './types.js';

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

describe('buildSandboxSpec: seccomp, AppArmor and SELinux of the infra container', () => {
  const audit: Seccomp = { defaultAction: 'SCMP_ACT_LOG', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };

  it('a pod without an infra command is InvalidArgument naming the sandbox', () => {
    expect(() => buildSandboxSpec(input({ args: [] }))).toThrow('pod sandbox "sb1": no infra command');
  });

  it('Localhost seccomp uses the profile loaded by the caller, and refuses to run without it', () => {
    const s = buildSandboxSpec(input({ securityContext: { seccomp: { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/audit.json' } }, localhostSeccomp: audit }));
    expect(s.linux!.seccomp).toEqual(audit);
    expect(() => buildSandboxSpec(input({ securityContext: { seccomp: { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/audit.json' } } }))).toThrow(
      'seccomp profile "/var/lib/kubelet/seccomp/audit.json" was not loaded',
    );
    // privileged pods run unconfined whatever they ask for, as in containerd
    expect(buildSandboxSpec(input({ securityContext: { privileged: true, seccomp: { profileType: 'Localhost', localhostRef: '/x.json' } } })).linux!.seccomp).toBeUndefined();
  });

  it('a docker-format Localhost profile is resolved against the infra process capabilities and the node', () => {
    const docker = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ALLOW', includes: {}, excludes: {} },
          { names: ['unshare'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
          { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
          { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
          { names: ['sync_file_range2'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
          { names: ['landlock_create_ruleset'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.13' } },
        ],
      }),
      '/var/lib/kubelet/seccomp/docker.json',
    );
    const build = (h: HostFacts): Spec =>
      buildSandboxSpec(input({ host: h, securityContext: { seccomp: { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/docker.json' } }, localhostSeccomp: docker }));
    const amd = build(testHost({ arch: 'x64', kernelRelease: '6.8.0' }));
    expect(amd.linux!.seccomp!.syscalls).toEqual([
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW' },
      { names: ['landlock_create_ruleset'], action: 'SCMP_ACT_ALLOW' },
    ]);
    expect(JSON.stringify(amd)).not.toMatch(/"includes"|"excludes"/);
    expect(build(testHost({ arch: 'arm64', kernelRelease: '5.4.0' })).linux!.seccomp!.syscalls!.flatMap((r) => r.names)).toEqual(['read', 'clone3', 'sync_file_range2']);
  });

  it('Unconfined or no seccomp profile leaves the infra process without a filter', () => {
    expect(buildSandboxSpec(input({ securityContext: { seccomp: { profileType: 'Unconfined' } } })).linux!.seccomp).toBeUndefined();
    expect(buildSandboxSpec(input()).linux!.seccomp).toBeUndefined();
  });

  it('RuntimeDefault seccomp follows the node architecture', () => {
    const arm = buildSandboxSpec(input({ host: testHost({ arch: 'arm64' }), securityContext: { seccomp: { profileType: 'RuntimeDefault' } } }));
    expect(arm.linux!.seccomp!.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    // without a known arch, the daemon's own
    const { arch: _omit, ...noArch } = testHost();
    const own = buildSandboxSpec(input({ host: noArch, securityContext: { seccomp: { profileType: 'RuntimeDefault' } } }));
    expect(own.linux!.seccomp).toEqual(runtimeDefaultSeccomp({ capabilities: defaultCapabilities(), arch: process.arch }));
  });

  it('AppArmor on the node: the runtime default profile unless the pod says Localhost or Unconfined', () => {
    const aa = testHost({ apparmorEnabled: true, apparmorDefaultProfile: 'nexcage-default' });
    expect(buildSandboxSpec(input({ host: aa })).process!.apparmorProfile).toBe('nexcage-default');
    expect(buildSandboxSpec(input({ host: aa, securityContext: { apparmor: { profileType: 'RuntimeDefault' } } })).process!.apparmorProfile).toBe('nexcage-default');
    expect(buildSandboxSpec(input({ host: aa, securityContext: { apparmor: { profileType: 'Localhost', localhostRef: 'localhost/k8s-pause' } } })).process!.apparmorProfile).toBe(
      'k8s-pause',
    );
    expect(buildSandboxSpec(input({ host: aa, securityContext: { apparmor: { profileType: 'Unconfined' } } })).process!.apparmorProfile).toBeUndefined();
    expect(buildSandboxSpec(input({ host: aa, securityContext: { privileged: true } })).process!.apparmorProfile).toBeUndefined();
    // a Localhost profile still applies to a privileged pod, and an empty name is refused
    expect(buildSandboxSpec(input({ host: aa, securityContext: { privileged: true, apparmor: { profileType: 'Localhost', localhostRef: 'k8s-pause' } } })).process!.apparmorProfile).toBe('k8s-pause');
    expect(() => buildSandboxSpec(input({ host: aa, securityContext: { apparmor: { profileType: 'Localhost', localhostRef: 'localhost/' } } }))).toThrow('apparmor: Localhost profile without a name');
    // enabled but no default profile loaded: nothing to name
    expect(buildSandboxSpec(input({ host: testHost({ apparmorEnabled: true }) })).process!.apparmorProfile).toBeUndefined();
    // node without AppArmor: never set
    expect(buildSandboxSpec(input({ securityContext: { apparmor: { profileType: 'Localhost', localhostRef: 'k8s-pause' } } })).process!.apparmorProfile).toBeUndefined();
  });

  it('SELinux labels are set only on SELinux nodes and not for privileged pods', () => {
    const labels = { selinuxProcessLabel: 'system_u:system_r:container_t:s0:c1,c2', selinuxMountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' };
    const se = buildSandboxSpec(input({ host: testHost({ selinuxEnabled: true }), ...labels }));
    expect(se.process!.selinuxLabel).toBe('system_u:system_r:container_t:s0:c1,c2');
    expect(se.linux!.mountLabel).toBe('system_u:object_r:container_file_t:s0:c1,c2');
    const unlabelled = buildSandboxSpec(input({ host: testHost({ selinuxEnabled: true }) }));
    expect(unlabelled.process!.selinuxLabel).toBeUndefined();
    expect(unlabelled.linux!.mountLabel).toBeUndefined();
    const off = buildSandboxSpec(input(labels));
    expect(off.process!.selinuxLabel).toBeUndefined();
    expect(off.linux!.mountLabel).toBeUndefined();
    const priv = buildSandboxSpec(input({ host: testHost({ selinuxEnabled: true }), securityContext: { privileged: true }, ...labels }));
    expect(priv.process!.selinuxLabel).toBeUndefined();
  });
});

describe('buildSandboxSpec: process, rootfs, annotations and resources', () => {
  it('infra env, rootfs path, writable rootfs when asked, and the pod identity annotations', () => {
    const s = buildSandboxSpec(input({ env: ['PATH=/pause', 'TZ=UTC'], rootfsPath: '/var/lib/nexcage/images/pause/rootfs', logDirectory: '/var/log/pods/default_web_uid-1', securityContext: { readonlyRootfs: false } }));
    expect(s.process!.env).toEqual(['PATH=/pause', 'TZ=UTC']);
    expect(s.root).toEqual({ path: '/var/lib/nexcage/images/pause/rootfs', readonly: false });
    expect(s.annotations).toEqual({
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': 'sb1',
      'io.kubernetes.cri.sandbox-name': 'web',
      'io.kubernetes.cri.sandbox-namespace': 'default',
      'io.kubernetes.cri.sandbox-uid': 'uid-1',
      'io.kubernetes.cri.sandbox-log-directory': '/var/log/pods/default_web_uid-1',
    });
    const plain = buildSandboxSpec(input());
    expect(plain.process!.env).toEqual([DEFAULT_PATH_ENV]);
    expect(plain.annotations!['io.kubernetes.cri.sandbox-log-directory']).toBeUndefined();
  });

  it('infra resources become OCI resources with the default device rules; unified is dropped on cgroup v1', () => {
    const s = buildSandboxSpec(input({ resources: { cpuShares: 2, cpuQuota: 10000, cpuPeriod: 100000, memoryLimitInBytes: 20971520, unified: { 'memory.high': '16777216' } } }));
    expect(s.linux!.resources).toEqual({
      cpu: { shares: 2, quota: 10000, period: 100000 },
      memory: { limit: 20971520 },
      devices: defaultDeviceCgroupRules(),
    });
    const v2 = buildSandboxSpec(input({ host: testHost({ cgroupV2: true }), resources: { unified: { 'memory.high': '16777216' } } }));
    expect(v2.linux!.resources!.unified).toEqual({ 'memory.high': '16777216' });
  });

  it('an empty sysctl map sets no linux.sysctl', () => {
    expect(buildSandboxSpec(input({ sysctls: {} })).linux!.sysctl).toBeUndefined();
  });

  it('host IPC with a pod network: the host /dev/shm and no ipc namespace, own uts and netns', () => {
    const s = buildSandboxSpec(input({ namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'NODE' } }));
    expect(s.linux!.namespaces).toEqual([{ type: 'mount' }, { type: 'network', path: '/var/run/netns/cni-1' }, { type: 'uts' }, { type: 'pid' }]);
    expect(s.mounts!.filter((m) => m.destination === '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] }]);
  });

  it('a pod IPC namespace without a prepared shm falls back to a private tmpfs /dev/shm', () => {
    const s = buildSandboxSpec(input({ shmPath: undefined }));
    expect(s.mounts!.filter((m) => m.destination === '/dev/shm')).toEqual([
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    ]);
  });
});

describe('buildSandboxSpec: a pod with its own user namespace', () => {
  const userns = { uids: [{ containerId: 0, hostId: 100000, length: 65536 }], gids: [{ containerId: 0, hostId: 100000, length: 65536 }] };

  it('creates the user namespace and a network namespace inside it (no pinned path), with the mappings', () => {
    const { netnsPath: _pinned, ...noNet } = input();
    const s = buildSandboxSpec({ ...noNet, userns });
    expect(s.linux?.namespaces).toEqual([{ type: 'mount' }, { type: 'user' }, { type: 'network' }, { type: 'uts' }, { type: 'ipc' }, { type: 'pid' }]);
    expect(s.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(s.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
  });

  it('refuses one on the host network', () => {
    expect(() => buildSandboxSpec(input({ userns, namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'POD' } }))).toThrow(/needs a pod network/);
  });
});
