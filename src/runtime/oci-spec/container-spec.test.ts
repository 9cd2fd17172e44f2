import { describe, expect, it } from 'vitest';
import { FailedPreconditionError, InternalError, InvalidArgumentError } from '../../lib/errors.js';
import type { ContainerConfig, HostFacts, SandboxFacts } from '../container/container-config.js';
import { buildContainerSpec, clampRlimits, type ContainerSpecInput } from './container-spec.js';
import { allCapabilities, defaultCapabilities, defaultMaskedPaths, defaultReadonlyPaths } from './defaults.js';
import { parseSeccompProfile } from './seccomp-localhost.js';
import { testHost } from './test-host.js';

const host: HostFacts = testHost();
const sandbox: SandboxFacts = {
  id: 'sb1',
  name: 'web',
  namespace: 'default',
  uid: 'uid-1',
  netnsPath: '/var/run/netns/cni-1',
  infraPid: 4242,
  namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
  cgroupParent: '/kubepods/besteffort/poduid-1',
  hostname: 'web',
  hostsPath: '/state/sb1/hosts',
  resolvConfPath: '/state/sb1/resolv.conf',
  hostnamePath: '/state/sb1/hostname',
  shmPath: '/state/sb1/shm',
  privileged: false,
};
const config = (over: Partial<ContainerConfig> = {}): ContainerConfig => ({
  metadata: { name: 'app', attempt: 0 },
  image: { image: 'sha256:abc', userSpecifiedImage: 'busybox:latest' },
  ...over,
});
const input = (over: Partial<ContainerSpecInput> = {}): ContainerSpecInput => ({
  id: 'c1',
  config: config(),
  image: { Cmd: ['sh'], Env: ['PATH=/bin', 'LANG=C'] },
  sandbox,
  host,
  userFiles: { passwd: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', group: 'root:x:0:\napp:x:1000:\nvideo:x:44:app\n' },
  ...over,
});
const sec = (securityContext: NonNullable<NonNullable<ContainerConfig['linux']>['securityContext']>, over: Partial<ContainerConfig> = {}): ContainerConfig =>
  config({ linux: { securityContext }, ...over });

describe('buildContainerSpec: process', () => {
  it('fills the process from image and CRI config', () => {
    const { spec, user } = buildContainerSpec(
      input({
        config: config({ command: ['/bin/app'], args: ['-v'], envs: [{ key: 'LANG', value: 'de' }], workingDir: '/work', tty: true }),
        image: { Entrypoint: ['/ep'], Cmd: ['x'], Env: ['PATH=/bin', 'LANG=C'], WorkingDir: '/img', User: 'app' },
      }),
    );
    expect(spec.ociVersion).toMatch(/^1\./);
    expect(spec.process).toMatchObject({
      terminal: true,
      args: ['/bin/app', '-v'],
      env: ['PATH=/bin', 'HOSTNAME=web', 'LANG=de'],
      cwd: '/work',
      user: { uid: 1000, gid: 1000, additionalGids: [1000, 44] },
      noNewPrivileges: false,
      oomScoreAdj: 0,
    });
    expect(user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 44], username: 'app' });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
  });

  it('working dir: image WorkingDir, else /; relative is InvalidArgument', () => {
    expect(buildContainerSpec(input({ image: { Cmd: ['sh'], WorkingDir: '/img' } })).spec.process!.cwd).toBe('/img');
    expect(buildContainerSpec(input({ image: { Cmd: ['sh'] } })).spec.process!.cwd).toBe('/');
    expect(() => buildContainerSpec(input({ config: config({ workingDir: 'rel' }) }))).toThrow(InvalidArgumentError);
  });

  it('no command anywhere is InvalidArgument', () => {
    expect(() => buildContainerSpec(input({ image: {} }))).toThrow(/no command specified/);
  });

  it('user from run_as_user / run_as_group / supplemental groups (Strict)', () => {
    const { spec } = buildContainerSpec(
      input({ config: sec({ runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [5000], supplementalGroupsPolicy: 'Strict' }) }),
    );
    expect(spec.process!.user).toEqual({ uid: 1000, gid: 3000, additionalGids: [3000, 5000] });
  });

  it('an unknown user name is InvalidArgument', () => {
    expect(() => buildContainerSpec(input({ image: { Cmd: ['sh'], User: 'nobody' } }))).toThrow(InvalidArgumentError);
    expect(() => buildContainerSpec(input({ config: sec({ runAsUsername: 'ghost' }) }))).toThrow(/user "ghost" not found/);
  });

  it('readonly rootfs, no_new_privs, custom rootfs path', () => {
    const { spec } = buildContainerSpec(input({ config: sec({ readonlyRootfs: true, noNewPrivs: true }), rootfsPath: '/b/rootfs' }));
    expect(spec.root).toEqual({ path: '/b/rootfs', readonly: true });
    expect(spec.process!.noNewPrivileges).toBe(true);
    // the pod files follow the read-only root
    expect(spec.mounts!.find((m) => m.destination === '/etc/hosts')!.options).toContain('ro');
  });
});

describe('buildContainerSpec: clamping', () => {
  it('clamps rlimits to the daemon hard limit', () => {
    expect(buildContainerSpec(input()).spec.process!.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 }]);
    expect(clampRlimits([{ type: 'RLIMIT_NOFILE', soft: 4096, hard: 8192 }], 1000)).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1000, hard: 1000 }]);
    expect(clampRlimits([{ type: 'RLIMIT_CORE', soft: 0, hard: 7 }], 1000)).toEqual([{ type: 'RLIMIT_CORE', soft: 0, hard: 7 }]);
  });

  it('clamps oom_score_adj to the daemon own value', () => {
    const c = config({ linux: { resources: { oomScoreAdj: -997 } } });
    expect(buildContainerSpec(input({ config: c })).spec.process!.oomScoreAdj).toBe(0);
    expect(buildContainerSpec(input({ config: c, host: { ...host, daemonOomScoreAdj: -999 } })).spec.process!.oomScoreAdj).toBe(-997);
    expect(buildContainerSpec(input({ config: config({ linux: { resources: { oomScoreAdj: 1000 } } }) })).spec.process!.oomScoreAdj).toBe(1000);
  });
});

describe('buildContainerSpec: security', () => {
  it('default: default caps, masked and readonly paths, deny-all device rules, no seccomp when unset', () => {
    const { spec } = buildContainerSpec(input());
    expect(spec.process!.capabilities!.bounding).toEqual(defaultCapabilities());
    expect(spec.linux!.maskedPaths).toEqual(defaultMaskedPaths());
    expect(spec.linux!.readonlyPaths).toEqual(defaultReadonlyPaths());
    expect(spec.linux!.resources!.devices![0]).toEqual({ allow: false, access: 'rwm' });
    expect(spec.linux!.seccomp).toBeUndefined();
    expect(spec.mounts!.find((m) => m.destination === '/sys')!.options).toContain('ro');
  });

  it('caps add/drop reach the spec', () => {
    const { spec } = buildContainerSpec(input({ config: sec({ capabilities: { addCapabilities: ['SYS_ADMIN'], dropCapabilities: ['ALL'] } }) }));
    expect(spec.process!.capabilities).toEqual({ bounding: ['CAP_SYS_ADMIN'], effective: ['CAP_SYS_ADMIN'], permitted: ['CAP_SYS_ADMIN'] });
  });

  it('masked/readonly paths are overridable by the CRI fields', () => {
    const { spec } = buildContainerSpec(input({ config: sec({ maskedPaths: ['/proc/foo'], readonlyPaths: ['/proc/bar'] }) }));
    expect(spec.linux!.maskedPaths).toEqual(['/proc/foo']);
    expect(spec.linux!.readonlyPaths).toEqual(['/proc/bar']);
    expect(() => buildContainerSpec(input({ config: sec({ maskedPaths: ['proc/foo'] }) }))).toThrow(InvalidArgumentError);
  });

  it('privileged: all caps, all devices, no masked paths, rw sysfs, no seccomp/apparmor', () => {
    const hostDevices = [{ path: '/dev/loop0', type: 'b' as const, major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }];
    const { spec } = buildContainerSpec(
      input({
        sandbox: { ...sandbox, privileged: true },
        config: sec({ privileged: true, seccomp: { profileType: 'RuntimeDefault' }, capabilities: { dropCapabilities: ['ALL'] } }),
        hostDevices,
        host: { ...host, apparmorEnabled: true, apparmorDefaultProfile: 'nexcage-default' },
      }),
    );
    expect(spec.process!.capabilities!.bounding).toEqual(allCapabilities());
    expect(spec.linux!.resources!.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.linux!.devices).toEqual([{ path: '/dev/loop0', type: 'b', major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }]);
    expect(spec.linux!.maskedPaths).toBeUndefined();
    expect(spec.linux!.readonlyPaths).toBeUndefined();
    expect(spec.mounts!.find((m) => m.destination === '/sys')!.options).not.toContain('ro');
    expect(spec.linux!.seccomp).toBeUndefined();
    expect(spec.process!.apparmorProfile).toBeUndefined();
  });

  it('a privileged container in an unprivileged pod is InvalidArgument', () => {
    expect(() => buildContainerSpec(input({ config: sec({ privileged: true }) }))).toThrow(/needs a privileged pod sandbox/);
  });

  it('seccomp modes: RuntimeDefault, Unconfined, Localhost', () => {
    const rd = buildContainerSpec(input({ config: sec({ seccomp: { profileType: 'RuntimeDefault' } }) })).spec.linux!.seccomp!;
    expect(rd.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(rd.architectures).toContain('SCMP_ARCH_X86_64');
    expect(buildContainerSpec(input({ config: sec({ seccomp: { profileType: 'Unconfined' } }) })).spec.linux!.seccomp).toBeUndefined();
    const localhost = { defaultAction: 'SCMP_ACT_LOG' as const };
    expect(
      buildContainerSpec(input({ config: sec({ seccomp: { profileType: 'Localhost', localhostRef: '/p.json' } }), localhostSeccomp: localhost })).spec
        .linux!.seccomp,
    ).toEqual(localhost);
    expect(() => buildContainerSpec(input({ config: sec({ seccomp: { profileType: 'Localhost', localhostRef: '/p.json' } }) }))).toThrow(InternalError);
  });

  it('a docker-format Localhost profile: includes/excludes resolved against the container capabilities and the node', () => {
    // as an operator gets from copying moby's profiles/seccomp/default.json to the kubelet's seccomp dir
    const docker = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ALLOW', includes: {}, excludes: {} },
          { names: ['unshare', 'mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
          { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
          { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32', 'x86'] } },
          { names: ['sync_file_range2'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
          { names: ['mbind'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['arm64'] } },
          { names: ['landlock_create_ruleset'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.13' } },
        ],
      }),
      '/var/lib/kubelet/seccomp/docker.json',
    );
    const build = (over: { caps?: string[]; host?: HostFacts } = {}): { names: string[]; json: string } => {
      const spec = buildContainerSpec(
        input({
          config: sec({ seccomp: { profileType: 'Localhost', localhostRef: 'localhost//var/lib/kubelet/seccomp/docker.json' }, capabilities: { addCapabilities: over.caps ?? [] } }),
          localhostSeccomp: docker,
          host: over.host ?? testHost({ arch: 'x64', kernelRelease: '6.8.0-45-generic' }),
        }),
      ).spec;
      return { names: spec.linux!.seccomp!.syscalls!.flatMap((r) => r.names), json: JSON.stringify(spec) };
    };
    // a default container has no CAP_SYS_ADMIN: the rule docker only gives with it is not there
    expect(build().names).toEqual(['read', 'clone3', 'arch_prctl', 'mbind', 'landlock_create_ruleset']);
    expect(build({ caps: ['CAP_SYS_ADMIN'] }).names).toEqual(['read', 'unshare', 'mount', 'arch_prctl', 'mbind', 'landlock_create_ruleset']);
    // arches: the node's, as moby names them
    expect(build({ host: testHost({ arch: 'arm64', kernelRelease: '6.8.0' }) }).names).toEqual(['read', 'clone3', 'sync_file_range2', 'landlock_create_ruleset']);
    // minKernel against the node's kernel release
    expect(build({ host: testHost({ arch: 'x64', kernelRelease: '5.10.0-28-amd64' }) }).names).not.toContain('landlock_create_ruleset');
    expect(build({ host: testHost({ arch: 'x64', kernelRelease: '5.13.0' }) }).names).toContain('landlock_create_ruleset');
    // config.json is plain OCI: runc does not know includes/excludes
    expect(build().json).not.toMatch(/"includes"|"excludes"/);
    expect(build({ caps: ['CAP_SYS_ADMIN'] }).json).not.toMatch(/"includes"|"excludes"/);
  });

  it('RuntimeDefault seccomp follows the container capabilities', () => {
    const names = (caps: string[]): Set<string> =>
      new Set(
        buildContainerSpec(input({ config: sec({ seccomp: { profileType: 'RuntimeDefault' }, capabilities: { addCapabilities: caps } }) }))
          .spec.linux!.seccomp!.syscalls!.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args)
          .flatMap((r) => r.names),
      );
    expect(names([]).has('mount')).toBe(false);
    expect(names(['SYS_ADMIN']).has('mount')).toBe(true);
  });

  it('apparmor: passed through only when enabled', () => {
    const loc = sec({ apparmor: { profileType: 'Localhost', localhostRef: 'localhost/my-profile' } });
    expect(() => buildContainerSpec(input({ config: loc }))).toThrow(/AppArmor is not enabled/);
    const on = { ...host, apparmorEnabled: true, apparmorDefaultProfile: 'nexcage-default' };
    expect(buildContainerSpec(input({ config: loc, host: on })).spec.process!.apparmorProfile).toBe('my-profile');
    expect(buildContainerSpec(input({ host: on })).spec.process!.apparmorProfile).toBe('nexcage-default');
    expect(buildContainerSpec(input({ host: on, config: sec({ apparmor: { profileType: 'Unconfined' } }) })).spec.process!.apparmorProfile).toBeUndefined();
    expect(buildContainerSpec(input()).spec.process!.apparmorProfile).toBeUndefined();
  });

  it('selinux: labels from the pod with the container level, only when enabled', () => {
    const sb = { ...sandbox, selinuxProcessLabel: 'system_u:system_r:container_t:s0:c1,c2', selinuxMountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' };
    const c = sec({ selinuxOptions: { type: 'spc_t', level: 's0:c5,c6' } });
    const on = buildContainerSpec(input({ sandbox: sb, config: c, host: { ...host, selinuxEnabled: true } })).spec;
    expect(on.process!.selinuxLabel).toBe('system_u:system_r:spc_t:s0:c5,c6');
    expect(on.linux!.mountLabel).toBe('system_u:object_r:container_file_t:s0:c5,c6');
    const off = buildContainerSpec(input({ sandbox: sb, config: c })).spec;
    expect(off.process!.selinuxLabel).toBeUndefined();
    expect(off.linux!.mountLabel).toBeUndefined();
  });
});

describe('buildContainerSpec: namespaces', () => {
  it('joins the pod network, uts and ipc; own pid and mount namespaces', () => {
    expect(buildContainerSpec(input()).spec.linux!.namespaces).toEqual([
      { type: 'mount' },
      { type: 'network', path: '/var/run/netns/cni-1' },
      { type: 'uts', path: '/proc/4242/ns/uts' },
      { type: 'ipc', path: '/proc/4242/ns/ipc' },
      { type: 'pid' },
    ]);
  });

  it('pid per mode: POD joins the infra, NODE uses the host, TARGET the target', () => {
    const pid = (mode: 'POD' | 'NODE' | 'TARGET', targetPid?: number) =>
      buildContainerSpec(input({ config: sec({ namespaceOptions: { pid: mode, targetId: 't' } }), targetPid })).spec.linux!.namespaces!.filter(
        (n) => n.type === 'pid',
      );
    expect(pid('POD')).toEqual([{ type: 'pid', path: '/proc/4242/ns/pid' }]);
    expect(pid('NODE')).toEqual([]);
    expect(pid('TARGET', 777)).toEqual([{ type: 'pid', path: '/proc/777/ns/pid' }]);
    expect(() => pid('TARGET')).toThrow(InvalidArgumentError);
  });

  it('host network and host ipc pods: no network/uts/ipc namespaces, host /dev/shm', () => {
    const sb = { ...sandbox, netnsPath: undefined, namespaceOptions: { network: 'NODE' as const, pid: 'NODE' as const, ipc: 'NODE' as const } };
    const { spec } = buildContainerSpec(input({ sandbox: sb, config: sec({ namespaceOptions: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } }) }));
    expect(spec.linux!.namespaces).toEqual([{ type: 'mount' }]);
    expect(spec.mounts!.find((m) => m.destination === '/dev/shm')!.source).toBe('/dev/shm');
  });

  it('cgroup v2 adds a cgroup namespace and keeps unified', () => {
    const { spec } = buildContainerSpec(
      input({ host: { ...host, cgroupV2: true, cgroupDriver: 'systemd' }, sandbox: { ...sandbox, cgroupParent: 'kubepods-besteffort-poduid_1.slice' }, config: config({ linux: { resources: { unified: { 'memory.high': '100000' } } } }) }),
    );
    expect(spec.linux!.namespaces).toContainEqual({ type: 'cgroup' });
    expect(spec.linux!.cgroupsPath).toBe('kubepods-besteffort-poduid_1.slice:cri-nexcage:c1');
    expect(spec.linux!.resources!.unified).toEqual({ 'memory.high': '100000' });
  });

  it('an infra process that is gone is FailedPrecondition', () => {
    expect(() => buildContainerSpec(input({ sandbox: { ...sandbox, infraPid: 0 } }))).toThrow(FailedPreconditionError);
  });
});

describe('buildContainerSpec: mounts, devices, resources, annotations', () => {
  it('CRI mounts with propagation set the rootfs propagation; kubelet termination-log works', () => {
    const { spec } = buildContainerSpec(
      input({
        config: config({
          mounts: [
            { containerPath: '/dev/termination-log', hostPath: '/var/lib/kubelet/pods/uid-1/containers/app/abcd' },
            { containerPath: '/mnt/host', hostPath: '/mnt', propagation: 'PROPAGATION_HOST_TO_CONTAINER', readonly: true },
          ],
        }),
      }),
    );
    expect(spec.linux!.rootfsPropagation).toBe('rslave');
    expect(spec.mounts!.find((m) => m.destination === '/mnt/host')).toEqual({ destination: '/mnt/host', type: 'bind', source: '/mnt', options: ['rbind', 'rslave', 'ro'] });
    const dests = spec.mounts!.map((m) => m.destination);
    expect(dests.indexOf('/dev')).toBeLessThan(dests.indexOf('/dev/termination-log'));
    for (const p of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/shm']) expect(dests.filter((d) => d === p)).toHaveLength(1);
  });

  it('a relative or .. container path is InvalidArgument', () => {
    expect(() => buildContainerSpec(input({ config: config({ mounts: [{ containerPath: 'data', hostPath: '/d' }] }) }))).toThrow(InvalidArgumentError);
    expect(() => buildContainerSpec(input({ config: config({ mounts: [{ containerPath: '/a/../../etc', hostPath: '/d' }] }) }))).toThrow(/".."/);
  });

  it('devices: node at the container path and a cgroup allow rule with the permissions', () => {
    const devices = [{ path: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rw', type: 'c' as const, major: 10, minor: 229, fileMode: 0o600, uid: 0, gid: 0 }];
    const { spec } = buildContainerSpec(input({ devices }));
    expect(spec.linux!.devices).toEqual([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600, uid: 0, gid: 0 }]);
    expect(spec.linux!.resources!.devices!.at(-1)).toEqual({ allow: true, type: 'c', major: 10, minor: 229, access: 'rw' });
    const bad = [{ ...devices[0]!, permissions: 'rwx' }];
    expect(() => buildContainerSpec(input({ devices: bad }))).toThrow(/permissions "rwx"/);
    const rel = [{ ...devices[0]!, containerPath: 'dev/fuse' }];
    expect(() => buildContainerSpec(input({ devices: rel }))).toThrow(InvalidArgumentError);
    expect(buildContainerSpec(input({ devices: [{ ...devices[0]!, permissions: '' }] })).spec.linux!.resources!.devices!.at(-1)!.access).toBe('rwm');
  });

  it('resources and the cgroupfs path under the pod parent', () => {
    const { spec } = buildContainerSpec(
      input({ config: config({ linux: { resources: { cpuShares: 256, cpuQuota: 20000, cpuPeriod: 100000, memoryLimitInBytes: 50_000_000 } } }), pidsLimit: 100 }),
    );
    expect(spec.linux!.resources).toMatchObject({ cpu: { shares: 256, quota: 20000, period: 100000 }, memory: { limit: 50_000_000 }, pids: { limit: 100 } });
    expect(spec.linux!.cgroupsPath).toBe('/kubepods/besteffort/poduid-1/c1');
  });

  it('applies CDI edits last (env wins over CRI env, device node and rule added)', () => {
    const { spec } = buildContainerSpec(
      input({
        config: config({ envs: [{ key: 'GPU', value: 'cri' }] }),
        cdiEdits: [{ env: ['GPU=cdi'], deviceNodes: [{ path: '/dev/vgpu0', type: 'c', major: 195, minor: 0, permissions: 'rw' }] }],
      }),
    );
    expect(spec.process!.env).toContain('GPU=cdi');
    expect(spec.process!.env).not.toContain('GPU=cri');
    expect(spec.linux!.devices).toEqual([{ path: '/dev/vgpu0', type: 'c', major: 195, minor: 0 }]);
    expect(spec.linux!.resources!.devices!.at(-1)).toEqual({ allow: true, type: 'c', major: 195, minor: 0, access: 'rw' });
  });

  it('carries the CRI annotations containerd sets', () => {
    expect(buildContainerSpec(input()).spec.annotations).toEqual({
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.container-name': 'app',
      'io.kubernetes.cri.sandbox-id': 'sb1',
      'io.kubernetes.cri.sandbox-name': 'web',
      'io.kubernetes.cri.sandbox-namespace': 'default',
      'io.kubernetes.cri.sandbox-uid': 'uid-1',
      'io.kubernetes.cri.image-name': 'busybox:latest',
    });
  });
});

describe('buildContainerSpec: the pod\'s user namespace', () => {
  const userns = { uids: [{ containerId: 0, hostId: 100000, length: 65536 }], gids: [{ containerId: 0, hostId: 200000, length: 65536 }] };
  const inPod = { ...sandbox, userns };

  it('joins the infra\'s user namespace first, with the pod\'s mappings', () => {
    const { spec } = buildContainerSpec(input({ sandbox: inPod }));
    expect(spec.linux?.namespaces?.slice(0, 3)).toEqual([{ type: 'mount' }, { type: 'user', path: '/proc/4242/ns/user' }, { type: 'network', path: '/var/run/netns/cni-1' }]);
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(spec.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 200000, size: 65536 }]);
    const plain = buildContainerSpec(input()).spec;
    expect(plain.linux?.namespaces?.some((n) => n.type === 'user')).toBe(false);
    expect(plain.linux?.uidMappings).toBeUndefined();
  });

  it('refuses a container whose own user namespace options disagree with the pod\'s', () => {
    const opts = (u: NonNullable<NonNullable<ContainerConfig['linux']>['securityContext']>['namespaceOptions']) => input({ sandbox: inPod, config: sec({ namespaceOptions: u }) });
    expect(() => buildContainerSpec(opts({ userns: { mode: 'POD', ...userns } }))).not.toThrow();
    expect(() => buildContainerSpec(opts({ userns: { mode: 'NODE', uids: [], gids: [] } }))).toThrow(InvalidArgumentError);
    expect(() => buildContainerSpec(opts({ userns: { mode: 'POD', uids: userns.uids, gids: userns.uids } }))).toThrow(/differ from the pod sandbox's/);
  });

  it('binds devices from their host nodes (runc 1.1 would bind the container path from the host)', () => {
    const devices = [{ path: '/dev/zero', containerPath: '/dev/renamed-zero', type: 'c' as const, major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0, permissions: 'rw' }];
    const cdiEdits = [{ deviceNodes: [{ path: '/dev/cdi-null', hostPath: '/dev/null', type: 'c' as const, major: 1, minor: 3 }] }];
    const { spec } = buildContainerSpec(input({ sandbox: inPod, devices, cdiEdits }));
    expect(spec.linux?.devices).toBeUndefined();
    expect(spec.mounts?.slice(-2)).toEqual([
      { destination: '/dev/renamed-zero', type: 'bind', source: '/dev/zero', options: ['bind', 'rprivate'] },
      { destination: '/dev/cdi-null', type: 'bind', source: '/dev/null', options: ['bind', 'rprivate'] },
    ]);
    expect(spec.linux?.resources?.devices).toEqual(expect.arrayContaining([{ allow: true, type: 'c', major: 1, minor: 5, access: 'rw' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]));
  });

  it('refuses id-mapped CRI mounts outside a pod with its own user namespace', () => {
    const m = { containerPath: '/data', hostPath: '/srv/data', uidMappings: [{ containerId: 0, hostId: 100000, length: 1 }] };
    expect(() => buildContainerSpec(input({ config: config({ mounts: [m] }) }))).toThrow(/id-mapped mounts .* need user namespaces/);
  });
});
