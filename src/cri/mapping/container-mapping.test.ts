import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { Container, ContainerState } from '../../runtime/container/container-record.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerSecurityContext__Output } from '../generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import type { SecurityProfile__Output } from '../generated/runtime/v1/SecurityProfile.js';
import { containerConfigFromProto, containerFilterFromProto, containerStatusToProto, containerToProto, resourcesToProto, stateFromProto } from './container-mapping.js';

// protobufjs with enums: String hands over a value this CRI version does not know as its number.
const num = <T>(v: number): T => v as unknown as T;

function cfg(extra: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  return {
    metadata: { name: 'web', attempt: 2 },
    image: { image: 'busybox', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' },
    command: ['sh'],
    args: ['-c', 'true'],
    working_dir: '/w',
    envs: [{ key: 'A', value: Buffer.from('1') }],
    mounts: [],
    devices: [],
    labels: { l: '1' },
    annotations: {},
    log_path: 'web/2.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...extra,
  };
}

describe('containerConfigFromProto', () => {
  it('maps the basic fields and decodes env values', () => {
    const c = containerConfigFromProto(cfg());
    expect(c.metadata).toEqual({ name: 'web', attempt: 2 });
    expect(c.command).toEqual(['sh']);
    expect(c.args).toEqual(['-c', 'true']);
    expect(c.envs).toEqual([{ key: 'A', value: '1' }]);
    expect(c.stopSignal).toBeUndefined();
    expect(c.linux).toBeUndefined();
  });

  it('maps the security context: users, groups, caps, namespaces, legacy profile strings', () => {
    const c = containerConfigFromProto(
      cfg({
        stop_signal: 'SIGUSR1',
        linux: {
          resources: null,
          security_context: {
            capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'], add_ambient_capabilities: [] },
            privileged: false,
            namespace_options: { network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: 'abc', userns_options: null },
            selinux_options: null,
            run_as_user: { value: '1000' },
            run_as_username: '',
            readonly_rootfs: true,
            supplemental_groups: ['5', '6'],
            apparmor_profile: '',
            seccomp_profile_path: 'runtime/default',
            no_new_privs: true,
            run_as_group: { value: '7' },
            masked_paths: [],
            readonly_paths: [],
            seccomp: null,
            apparmor: null,
            supplemental_groups_policy: 'Strict',
          },
        },
      }),
    );
    const sc = c.linux?.securityContext;
    expect(c.stopSignal).toBe('SIGUSR1');
    expect(sc?.runAsUser).toBe(1000);
    expect(sc?.runAsGroup).toBe(7);
    expect(sc?.supplementalGroups).toEqual([5, 6]);
    expect(sc?.supplementalGroupsPolicy).toBe('Strict');
    expect(sc?.capabilities?.dropCapabilities).toEqual(['ALL']);
    expect(sc?.namespaceOptions).toEqual({ network: 'POD', pid: 'TARGET', ipc: 'POD', targetId: 'abc' });
    expect(sc?.seccomp).toEqual({ profileType: 'RuntimeDefault' });
    expect(sc?.readonlyRootfs).toBe(true);
  });

  it('refuses a config without metadata or image', () => {
    expect(() => containerConfigFromProto(null)).toThrow(/config is required/);
    expect(() => containerConfigFromProto(cfg({ metadata: null }))).toThrow(/metadata is required/);
  });
});

describe('containerFilterFromProto', () => {
  it('maps state names and drops empty fields', () => {
    expect(containerFilterFromProto({ id: '', state: { state: 'CONTAINER_EXITED' }, pod_sandbox_id: 'p', label_selector: {} })).toEqual({ state: 'EXITED', podSandboxId: 'p' });
    expect(containerFilterFromProto(null)).toEqual({});
  });
});

function securityContext(extra: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    run_as_group: null,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 'Merge',
    ...extra,
  };
}

const withSecurity = (extra: Partial<LinuxContainerSecurityContext__Output>): ContainerConfig__Output =>
  cfg({ linux: { resources: null, security_context: securityContext(extra) } });

function mount(extra: Partial<Mount__Output> = {}): Mount__Output {
  return {
    container_path: '/data',
    host_path: '/var/lib/kubelet/pods/u/volumes/data',
    readonly: false,
    selinux_relabel: false,
    propagation: 'PROPAGATION_PRIVATE',
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: '',
    ...extra,
  };
}

const profile = (type: SecurityProfile__Output['profile_type'] | number, ref = ''): SecurityProfile__Output => ({
  profile_type: typeof type === 'number' ? num(type) : type,
  localhost_ref: ref,
});

function invalidArgument(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).code).toBe('INVALID_ARGUMENT');
    return (err as Error).message;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('containerConfigFromProto: fields', () => {
  it('refuses a config without image', () => {
    expect(invalidArgument(() => containerConfigFromProto(cfg({ image: null })))).toBe('container config: image is required');
  });

  it('keeps the image as the user wrote it, devices and CDI devices', () => {
    const c = containerConfigFromProto(
      cfg({
        image: { image: 'sha256:' + 'a'.repeat(64), annotations: {}, user_specified_image: 'nginx:1.27', runtime_handler: '', image_ref: '' },
        devices: [{ container_path: '/dev/fuse', host_path: '/dev/fuse', permissions: 'rw' }],
        CDI_devices: [{ name: 'vendor.com/gpu=0' }],
      }),
    );
    expect(c.image).toEqual({ image: 'sha256:' + 'a'.repeat(64), userSpecifiedImage: 'nginx:1.27' });
    expect(c.devices).toEqual([{ containerPath: '/dev/fuse', hostPath: '/dev/fuse', permissions: 'rw' }]);
    expect(c.cdiDevices).toEqual([{ name: 'vendor.com/gpu=0' }]);
  });

  it('maps resources alone when there is no security context', () => {
    const c = containerConfigFromProto(
      cfg({
        linux: {
          security_context: null,
          resources: {
            cpu_period: '100000',
            cpu_quota: '50000',
            cpu_shares: '512',
            memory_limit_in_bytes: '268435456',
            oom_score_adj: '1000',
            cpuset_cpus: '',
            cpuset_mems: '',
            hugepage_limits: [{ page_size: '1GB', limit: '1073741824' }],
            unified: {},
            memory_swap_limit_in_bytes: '268435456',
          },
        },
      }),
    );
    expect(c.linux).toEqual({
      resources: {
        cpuPeriod: 100000,
        cpuQuota: 50000,
        cpuShares: 512,
        memoryLimitInBytes: 268435456,
        oomScoreAdj: 1000,
        cpusetCpus: '',
        cpusetMems: '',
        hugepageLimits: [{ pageSize: '1GB', limit: 1073741824 }],
        unified: {},
        memorySwapLimitInBytes: 268435456,
      },
    });
  });
});

describe('containerConfigFromProto: mounts', () => {
  it('maps propagation given by name or number, id mappings and image volumes', () => {
    const c = containerConfigFromProto(
      cfg({
        mounts: [
          mount({ propagation: 'PROPAGATION_BIDIRECTIONAL', readonly: true, selinux_relabel: true }),
          mount({ propagation: num(1), uidMappings: [{ host_id: 100000, container_id: 0, length: 65536 }], gidMappings: [{ host_id: 200000, container_id: 0, length: 65536 }] }),
          mount({ host_path: '', image: { image: 'registry.k8s.io/data:1', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' }, image_sub_path: 'sub/dir' }),
          mount({ image: { image: '', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' }, image_sub_path: 'ignored' }),
        ],
      }),
    );
    expect(c.mounts?.[0]).toEqual({
      containerPath: '/data',
      hostPath: '/var/lib/kubelet/pods/u/volumes/data',
      readonly: true,
      selinuxRelabel: true,
      propagation: 'PROPAGATION_BIDIRECTIONAL',
      recursiveReadOnly: false,
    });
    expect(c.mounts?.[1]).toMatchObject({
      propagation: 'PROPAGATION_HOST_TO_CONTAINER',
      uidMappings: [{ hostId: 100000, containerId: 0, length: 65536 }],
      gidMappings: [{ hostId: 200000, containerId: 0, length: 65536 }],
    });
    expect(c.mounts?.[2]).toMatchObject({ image: { image: 'registry.k8s.io/data:1' }, imageSubPath: 'sub/dir' });
    expect(c.mounts?.[3]?.image).toBeUndefined();
    expect(c.mounts?.[3]?.imageSubPath).toBeUndefined();
    expect(c.mounts?.[0]?.uidMappings).toBeUndefined();
  });

  it('refuses an unknown propagation, naming the mount by index', () => {
    expect(invalidArgument(() => containerConfigFromProto(cfg({ mounts: [mount(), mount({ propagation: num(5) })] })))).toBe('mounts[1].propagation: unknown value 5');
  });
});

describe('containerConfigFromProto: security context', () => {
  it('maps seccomp and apparmor profiles given by name or number; only Localhost keeps its reference', () => {
    const sc = containerConfigFromProto(withSecurity({ seccomp: profile('Localhost', 'profiles/audit.json'), apparmor: profile(0, 'ignored') })).linux?.securityContext;
    expect(sc?.seccomp).toEqual({ profileType: 'Localhost', localhostRef: 'profiles/audit.json' });
    expect(sc?.apparmor).toEqual({ profileType: 'RuntimeDefault' });
    const u = containerConfigFromProto(withSecurity({ seccomp: profile(1), apparmor: profile('Unconfined') })).linux?.securityContext;
    expect(u?.seccomp).toEqual({ profileType: 'Unconfined' });
    expect(u?.apparmor).toEqual({ profileType: 'Unconfined' });
  });

  it('prefers the structured profile over the legacy string, and reads the legacy strings otherwise', () => {
    const both = containerConfigFromProto(withSecurity({ seccomp: profile('Unconfined'), seccomp_profile_path: 'runtime/default' })).linux?.securityContext;
    expect(both?.seccomp).toEqual({ profileType: 'Unconfined' });
    const legacy = containerConfigFromProto(withSecurity({ seccomp_profile_path: 'localhost/profiles/a.json', apparmor_profile: 'unconfined' })).linux?.securityContext;
    expect(legacy?.seccomp).toEqual({ profileType: 'Localhost', localhostRef: 'profiles/a.json' });
    expect(legacy?.apparmor).toEqual({ profileType: 'Unconfined' });
    const none = containerConfigFromProto(withSecurity({})).linux?.securityContext;
    expect(none?.seccomp).toBeUndefined();
    expect(none?.apparmor).toBeUndefined();
  });

  it('refuses a legacy profile string it does not understand, naming the field', () => {
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ apparmor_profile: 'enforce' })))).toBe(
      'apparmor_profile: "enforce" is not runtime/default, unconfined or localhost/<profile>',
    );
  });

  it('refuses a security profile type it does not know instead of running the container unconfined', () => {
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ seccomp: profile(7) })))).toBe('seccomp.profile_type: unknown value 7');
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ apparmor: profile(3), apparmor_profile: 'runtime/default' })))).toBe(
      'apparmor.profile_type: unknown value 3',
    );
  });

  it('maps the supplemental groups policy and refuses one it does not know', () => {
    expect(containerConfigFromProto(withSecurity({})).linux?.securityContext?.supplementalGroupsPolicy).toBe('Merge');
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ supplemental_groups_policy: num(2) })))).toBe('supplemental_groups_policy: unknown value 2');
  });

  it('refuses run_as_group without run_as_user or run_as_username (INVALID_ARGUMENT), accepts it with either', () => {
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ run_as_group: { value: '1000' } })))).toBe(
      'linux.security_context.run_as_group is set without run_as_user or run_as_username',
    );
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ run_as_group: { value: '0' }, supplemental_groups: ['5'] })))).toMatch(/run_as_group is set without/);
    expect(containerConfigFromProto(withSecurity({ run_as_group: { value: '7' }, run_as_user: { value: '0' } })).linux?.securityContext).toMatchObject({ runAsUser: 0, runAsGroup: 7 });
    expect(containerConfigFromProto(withSecurity({ run_as_group: { value: '7' }, run_as_username: 'app' })).linux?.securityContext).toMatchObject({ runAsUsername: 'app', runAsGroup: 7 });
    expect(containerConfigFromProto(withSecurity({ run_as_user: { value: '5' } })).linux?.securityContext?.runAsGroup).toBeUndefined();
  });

  it('refuses ids that are not integers, naming the field (and the index of a supplemental group)', () => {
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ supplemental_groups: ['5', 'wheel'] })))).toBe('supplemental_groups[1]: "wheel" is not a valid integer');
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ run_as_user: { value: '' } })))).toBe('run_as_user: "" is not a valid integer');
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ run_as_group: { value: '9223372036854775807' } })))).toBe(
      'run_as_group: "9223372036854775807" is not a valid integer',
    );
  });

  it('maps namespace modes given by number, leaves targetId out when empty, refuses unknown modes', () => {
    const ns = (network: number, pid: number, target: string): LinuxContainerSecurityContext__Output['namespace_options'] => ({
      network: num(network),
      pid: num(pid),
      ipc: 'POD',
      target_id: target,
      userns_options: null,
    });
    expect(containerConfigFromProto(withSecurity({ namespace_options: ns(2, 1, '') })).linux?.securityContext?.namespaceOptions).toEqual({ network: 'NODE', pid: 'CONTAINER', ipc: 'POD' });
    expect(invalidArgument(() => containerConfigFromProto(withSecurity({ namespace_options: ns(0, 4, '') })))).toBe('namespace_options.pid: unknown value 4');
  });

  it('copies SELinux options, the user name, masked and read-only paths', () => {
    const sc = containerConfigFromProto(
      withSecurity({
        selinux_options: { user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c1,c2' },
        run_as_username: 'nginx',
        masked_paths: ['/proc/kcore'],
        readonly_paths: ['/proc/sys'],
      }),
    ).linux?.securityContext;
    expect(sc?.selinuxOptions).toEqual({ user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c1,c2' });
    expect(sc?.runAsUsername).toBe('nginx');
    expect(sc?.runAsUser).toBeUndefined();
    expect(sc?.maskedPaths).toEqual(['/proc/kcore']);
    expect(sc?.readonlyPaths).toEqual(['/proc/sys']);
  });
});

describe('container state mapping', () => {
  it('reads every state by name or number; anything else is UNKNOWN', () => {
    const cases: [unknown, ContainerState][] = [
      ['CONTAINER_CREATED', 'CREATED'],
      [0, 'CREATED'],
      ['CONTAINER_RUNNING', 'RUNNING'],
      [1, 'RUNNING'],
      ['CONTAINER_EXITED', 'EXITED'],
      [2, 'EXITED'],
      ['CONTAINER_UNKNOWN', 'UNKNOWN'],
      [3, 'UNKNOWN'],
      [9, 'UNKNOWN'],
    ];
    for (const [v, want] of cases) expect(stateFromProto(v)).toBe(want);
  });

  it('filters on a state given by number', () => {
    expect(containerFilterFromProto({ id: 'abc', state: { state: num(1) }, pod_sandbox_id: '', label_selector: { app: 'web' } })).toEqual({
      id: 'abc',
      state: 'RUNNING',
      labelSelector: { app: 'web' },
    });
  });
});

describe('container -> proto', () => {
  function container(extra: Partial<Container> = {}): Container {
    const config = containerConfigFromProto(cfg());
    return {
      id: 'c1',
      podSandboxId: 'p1',
      config,
      image: { requested: 'busybox', id: 'sha256:' + 'b'.repeat(64), ref: 'docker.io/library/busybox@sha256:' + 'c'.repeat(64) },
      runtimeHandler: 'runc',
      createdAtNs: '1700000000000000000',
      bundle: '/run/nexcage/c1',
      rootfs: '/run/nexcage/c1/rootfs',
      upperDir: '/var/lib/nexcage/c1/upper',
      workDir: '/var/lib/nexcage/c1/work',
      logPath: '/var/log/pods/p/web/2.log',
      cgroupsPath: 'kubepods:nexcage:c1',
      user: { uid: 1000, gid: 1000, additionalGids: [1000, 5] },
      stopSignal: 'SIGTERM',
      mounts: [],
      status: { state: 'CREATED', pid: 0, monitorPid: 0 },
      ...extra,
    };
  }

  it('maps every state to its CRI name in lists and statuses', () => {
    const states: [ContainerState, string][] = [
      ['CREATED', 'CONTAINER_CREATED'],
      ['RUNNING', 'CONTAINER_RUNNING'],
      ['EXITED', 'CONTAINER_EXITED'],
      ['UNKNOWN', 'CONTAINER_UNKNOWN'],
    ];
    for (const [state, want] of states) {
      const c = container({ status: { state, pid: 0, monitorPid: 0 } });
      expect(containerToProto(c).state).toBe(want);
      expect(containerStatusToProto(c).state).toBe(want);
    }
  });

  it('lists a container with its image as asked and the resolved image ref and id', () => {
    expect(containerToProto(container())).toEqual({
      id: 'c1',
      pod_sandbox_id: 'p1',
      metadata: { name: 'web', attempt: 2 },
      image: { image: 'busybox', annotations: {}, user_specified_image: 'busybox' },
      image_ref: 'docker.io/library/busybox@sha256:' + 'c'.repeat(64),
      image_id: 'sha256:' + 'b'.repeat(64),
      state: 'CONTAINER_CREATED',
      created_at: '1700000000000000000',
      labels: { l: '1' },
      annotations: {},
    });
  });

  it('reports a created container with zero times, exit code 0, empty reason and zero resources', () => {
    const s = containerStatusToProto(container());
    expect(s).toMatchObject({ started_at: '0', finished_at: '0', exit_code: 0, reason: '', message: '', stop_signal: 'SIGTERM', log_path: '/var/log/pods/p/web/2.log' });
    expect(s.resources).toEqual({
      linux: {
        cpu_period: 0,
        cpu_quota: 0,
        cpu_shares: 0,
        memory_limit_in_bytes: 0,
        oom_score_adj: 0,
        cpuset_cpus: '',
        cpuset_mems: '',
        hugepage_limits: [],
        unified: {},
        memory_swap_limit_in_bytes: 0,
      },
    });
    expect(s.user).toEqual({ linux: { uid: 1000, gid: 1000, supplemental_groups: [1000, 5] } });
  });

  it('reports an exited container with its times, exit code, reason, mounts and resources', () => {
    const c = container({
      status: { state: 'EXITED', pid: 0, monitorPid: 0, startedAtNs: '1700000001000000000', finishedAtNs: '1700000002000000000', exitCode: 137, reason: 'OOMKilled', message: 'out of memory' },
      mounts: [{ containerPath: '/data', hostPath: '/srv/data' }, { containerPath: '/ro', hostPath: '/srv/ro', readonly: true, selinuxRelabel: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER', recursiveReadOnly: true }],
      resources: { memoryLimitInBytes: 1048576, hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }], unified: { 'memory.high': '900000' } },
      config: { ...containerConfigFromProto(cfg({ image: { image: 'busybox', annotations: {}, user_specified_image: 'busybox:latest', runtime_handler: '', image_ref: '' } })), labels: undefined, annotations: undefined },
    });
    const s = containerStatusToProto(c);
    expect(s).toMatchObject({ started_at: '1700000001000000000', finished_at: '1700000002000000000', exit_code: 137, reason: 'OOMKilled', message: 'out of memory', labels: {}, annotations: {} });
    expect(s.image).toEqual({ image: 'busybox', annotations: {}, user_specified_image: 'busybox:latest' });
    expect(s.mounts).toEqual([
      { container_path: '/data', host_path: '/srv/data', readonly: false, selinux_relabel: false, propagation: 'PROPAGATION_PRIVATE', recursive_read_only: false },
      { container_path: '/ro', host_path: '/srv/ro', readonly: true, selinux_relabel: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER', recursive_read_only: true },
    ]);
    expect(s.resources?.linux).toMatchObject({ memory_limit_in_bytes: 1048576, hugepage_limits: [{ page_size: '2MB', limit: 2097152 }], unified: { 'memory.high': '900000' } });
  });

  it('reports a stop signal that is not a CRI signal name as RUNTIME_DEFAULT', () => {
    expect(containerStatusToProto(container({ stopSignal: 'SIGRTMIN+3' })).stop_signal).toBe('RUNTIME_DEFAULT');
    expect(containerStatusToProto(container({ stopSignal: 'SIGQUIT' })).stop_signal).toBe('SIGQUIT');
  });

  it('sends unset resources as zeros', () => {
    expect(resourcesToProto(undefined)).toEqual(resourcesToProto({}));
    expect(resourcesToProto({ cpuShares: 2 }).cpu_shares).toBe(2);
  });
});
