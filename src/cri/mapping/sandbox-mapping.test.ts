import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { Sandbox } from '../../runtime/sandbox/sandbox-config.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { LinuxSandboxSecurityContext__Output } from '../generated/runtime/v1/LinuxSandboxSecurityContext.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { PortMapping__Output } from '../generated/runtime/v1/PortMapping.js';
import type { SecurityProfile__Output } from '../generated/runtime/v1/SecurityProfile.js';
import { podSandboxStatusToProto, podSandboxToProto, resourcesFromProto, sandboxConfigFromProto, sandboxFilterFromProto } from './sandbox-mapping.js';

// protobufjs with enums: String hands over a value this CRI version does not know as its number.
type Wire<T> = T | number;
const num = <T>(v: number): T => v as unknown as T;

function podConfig(extra: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name: 'web', uid: 'u-1', namespace: 'default', attempt: 1 },
    hostname: 'web',
    log_directory: '/var/log/pods/default_web_u-1',
    dns_config: null,
    port_mappings: [],
    labels: { app: 'web' },
    annotations: { a: 'b' },
    linux: null,
    windows: null,
    ...extra,
  };
}

function securityContext(extra: Partial<LinuxSandboxSecurityContext__Output> = {}): LinuxSandboxSecurityContext__Output {
  return {
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    readonly_rootfs: false,
    supplemental_groups: [],
    privileged: false,
    seccomp_profile_path: '',
    run_as_group: null,
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 'Merge',
    ...extra,
  };
}

function withSecurity(extra: Partial<LinuxSandboxSecurityContext__Output>): PodSandboxConfig__Output {
  return podConfig({ linux: { cgroup_parent: '', security_context: securityContext(extra), sysctls: {}, overhead: null, resources: null } });
}

function resources(extra: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return {
    cpu_period: '100000',
    cpu_quota: '-1',
    cpu_shares: '2',
    memory_limit_in_bytes: '0',
    oom_score_adj: '-998',
    cpuset_cpus: '0-1',
    cpuset_mems: '',
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: '0',
    ...extra,
  };
}

function port(protocol: Wire<PortMapping__Output['protocol']>): PortMapping__Output {
  return { protocol: typeof protocol === 'number' ? num(protocol) : protocol, container_port: 80, host_port: 8080, host_ip: '127.0.0.1' };
}

function profile(type: Wire<SecurityProfile__Output['profile_type']>, ref = ''): SecurityProfile__Output {
  return { profile_type: typeof type === 'number' ? num(type) : type, localhost_ref: ref };
}

function invalidArgument(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('sandboxConfigFromProto', () => {
  it('maps a minimal pod: metadata, labels, empty linux section with POD namespaces and no privileges', () => {
    const c = sandboxConfigFromProto(podConfig());
    expect(c).toEqual({
      metadata: { name: 'web', uid: 'u-1', namespace: 'default', attempt: 1 },
      hostname: 'web',
      logDirectory: '/var/log/pods/default_web_u-1',
      portMappings: [],
      labels: { app: 'web' },
      annotations: { a: 'b' },
      cgroupParent: '',
      sysctls: {},
      namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'POD' },
      security: { privileged: false, supplementalGroups: [], readonlyRootfs: false },
    });
    expect(c.dns).toBeUndefined();
    expect(c.resources).toBeUndefined();
    expect(c.overhead).toBeUndefined();
  });

  it('refuses a request without config or without metadata', () => {
    const noConfig = invalidArgument(() => sandboxConfigFromProto(null));
    expect(noConfig.code).toBe('INVALID_ARGUMENT');
    expect(noConfig.message).toBe('RunPodSandbox: config is required');
    expect(invalidArgument(() => sandboxConfigFromProto(podConfig({ metadata: null }))).message).toBe('pod sandbox config: metadata is required');
  });

  it('maps each port mapping protocol given by name or number', () => {
    const c = sandboxConfigFromProto(podConfig({ port_mappings: [port('TCP'), port('UDP'), port('SCTP'), port(0), port(1), port(2)] }));
    expect(c.portMappings.map((p) => p.protocol)).toEqual(['tcp', 'udp', 'sctp', 'tcp', 'udp', 'sctp']);
    expect(c.portMappings[0]).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' });
  });

  it('refuses a port mapping protocol it does not know, naming the field', () => {
    expect(invalidArgument(() => sandboxConfigFromProto(podConfig({ port_mappings: [port(3)] }))).message).toBe('port_mappings.protocol: unknown value 3');
  });

  it('maps namespace modes given by name or number (host network, host PID, pod IPC)', () => {
    const c = sandboxConfigFromProto(withSecurity({ namespace_options: { network: 'NODE', pid: num(2), ipc: num(0), target_id: '', userns_options: null } }));
    expect(c.namespaceOptions).toEqual({ network: 'NODE', pid: 'NODE', ipc: 'POD' });
  });

  it('refuses a namespace mode it does not know, naming the field', () => {
    const ns = (pid: number): LinuxSandboxSecurityContext__Output['namespace_options'] => ({ network: 'POD', pid: num(pid), ipc: 'POD', target_id: '', userns_options: null });
    expect(invalidArgument(() => sandboxConfigFromProto(withSecurity({ namespace_options: ns(9) }))).message).toBe('namespace_options.pid: unknown value 9');
  });

  it('maps the pod security context: run as user/group, supplemental groups, privileged, read-only rootfs', () => {
    const c = sandboxConfigFromProto(
      withSecurity({ run_as_user: { value: '65535' }, run_as_group: { value: '0' }, supplemental_groups: ['1000', '2000'], privileged: true, readonly_rootfs: true }),
    );
    expect(c.security).toEqual({ privileged: true, readonlyRootfs: true, supplementalGroups: [1000, 2000], runAsUser: 65535, runAsGroup: 0 });
  });

  it('refuses a pod run_as_group without run_as_user (INVALID_ARGUMENT)', () => {
    expect(invalidArgument(() => sandboxConfigFromProto(withSecurity({ run_as_group: { value: '1000' } }))).message).toBe(
      'pod sandbox linux.security_context.run_as_group is set without run_as_user',
    );
    expect(sandboxConfigFromProto(withSecurity({ run_as_group: { value: '0' }, run_as_user: { value: '0' } })).security).toMatchObject({ runAsUser: 0, runAsGroup: 0 });
  });

  it('refuses a user or group id that is not an integer, naming the field and the value', () => {
    expect(invalidArgument(() => sandboxConfigFromProto(withSecurity({ run_as_user: { value: 'root' } }))).message).toBe('run_as_user: "root" is not a valid integer');
    expect(invalidArgument(() => sandboxConfigFromProto(withSecurity({ run_as_group: { value: '1.5' } }))).message).toBe('run_as_group: "1.5" is not a valid integer');
    expect(invalidArgument(() => sandboxConfigFromProto(withSecurity({ supplemental_groups: ['9007199254740993'] }))).message).toBe(
      'supplemental_groups: "9007199254740993" is not a valid integer',
    );
  });

  it('maps seccomp and apparmor profiles given by name or number, keeping the localhost reference', () => {
    const c = sandboxConfigFromProto(withSecurity({ seccomp: profile('RuntimeDefault'), apparmor: profile(2, 'k8s-apparmor-example') }));
    expect(c.security.seccomp).toEqual({ profileType: 'RuntimeDefault', localhostRef: '' });
    expect(c.security.apparmor).toEqual({ profileType: 'Localhost', localhostRef: 'k8s-apparmor-example' });
    const u = sandboxConfigFromProto(withSecurity({ seccomp: profile(1), apparmor: profile('Unconfined') }));
    expect(u.security.seccomp?.profileType).toBe('Unconfined');
    expect(u.security.apparmor?.profileType).toBe('Unconfined');
  });

  it('refuses a security profile type it does not know instead of running the pod unconfined', () => {
    expect(invalidArgument(() => sandboxConfigFromProto(withSecurity({ seccomp: profile(7) }))).message).toBe('seccomp.profile_type: unknown value 7');
    expect(invalidArgument(() => sandboxConfigFromProto(withSecurity({ apparmor: profile(3) }))).message).toBe('apparmor.profile_type: unknown value 3');
  });

  it('copies DNS config, sysctls and the cgroup parent', () => {
    const c = sandboxConfigFromProto(
      podConfig({
        dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
        linux: { cgroup_parent: 'kubepods-besteffort.slice', security_context: null, sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' }, overhead: null, resources: null },
      }),
    );
    expect(c.dns).toEqual({ servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] });
    expect(c.sysctls).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0' });
    expect(c.cgroupParent).toBe('kubepods-besteffort.slice');
  });

  it('maps pod overhead and resources with int64 strings, hugepages and unified', () => {
    const c = sandboxConfigFromProto(
      podConfig({
        linux: {
          cgroup_parent: '',
          security_context: null,
          sysctls: {},
          overhead: resources({ memory_limit_in_bytes: '134217728' }),
          resources: resources({ hugepage_limits: [{ page_size: '2MB', limit: '4194304' }], unified: { 'memory.high': '1G' } }),
        },
      }),
    );
    expect(c.overhead?.memoryLimitInBytes).toBe(134217728);
    expect(c.resources).toEqual({
      cpuPeriod: 100000,
      cpuQuota: -1,
      cpuShares: 2,
      memoryLimitInBytes: 0,
      oomScoreAdj: -998,
      cpusetCpus: '0-1',
      cpusetMems: '',
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
      unified: { 'memory.high': '1G' },
      memorySwapLimitInBytes: 0,
    });
  });
});

describe('resourcesFromProto', () => {
  it('reads an absent or empty int64 as 0 (not set)', () => {
    expect(resourcesFromProto(null, 'linux.resources')).toBeUndefined();
    expect(resourcesFromProto(resources({ cpu_period: '', cpu_shares: '' }), 'linux.resources')).toMatchObject({ cpuPeriod: 0, cpuShares: 0 });
  });

  it('refuses an int64 that is not an integer, naming the full field path and the value', () => {
    expect(invalidArgument(() => resourcesFromProto(resources({ memory_limit_in_bytes: '1Gi' }), 'linux.resources')).message).toBe(
      'linux.resources.memory_limit_in_bytes: "1Gi" is not a valid integer',
    );
    expect(invalidArgument(() => resourcesFromProto(resources({ hugepage_limits: [{ page_size: '1GB', limit: 'x' }] }), 'linux.overhead')).message).toBe(
      'linux.overhead.hugepage_limits.limit: "x" is not a valid integer',
    );
  });
});

describe('sandboxFilterFromProto', () => {
  it('maps id, both states and the label selector; drops empty fields', () => {
    expect(sandboxFilterFromProto(undefined)).toEqual({});
    expect(sandboxFilterFromProto({ id: '', state: null, label_selector: {} })).toEqual({});
    expect(sandboxFilterFromProto({ id: 'abc', state: { state: 'SANDBOX_READY' }, label_selector: { app: 'web' } })).toEqual({
      id: 'abc',
      state: 'READY',
      labelSelector: { app: 'web' },
    });
    expect(sandboxFilterFromProto({ id: '', state: { state: 'SANDBOX_NOTREADY' }, label_selector: {} })).toEqual({ state: 'NOTREADY' });
  });
});

describe('sandbox status mapping', () => {
  function sandbox(extra: Partial<Sandbox> = {}): Sandbox {
    const config = sandboxConfigFromProto(podConfig());
    return {
      id: 'sb1',
      config,
      metadata: config.metadata,
      runtimeHandler: 'runc',
      createdAtNs: '1700000000000000000',
      state: 'READY',
      hostNetwork: false,
      bundle: '/run/nexcage/sandboxes/sb1',
      cgroupsPath: 'kubepods:nexcage:sb1',
      cgroupParent: '',
      namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      hostname: 'web',
      hostnamePath: '/h',
      hostsPath: '/hosts',
      resolvConfPath: '/resolv.conf',
      pid: 42,
      monitorPid: 41,
      ips: ['10.88.0.5', 'fd00::5'],
      labels: { app: 'web' },
      annotations: { a: 'b' },
      sysctls: {},
      security: config.security,
      networkDown: false,
      ...extra,
    };
  }

  it('lists a sandbox with its state, creation time and runtime handler', () => {
    expect(podSandboxToProto(sandbox())).toEqual({
      id: 'sb1',
      metadata: { name: 'web', uid: 'u-1', namespace: 'default', attempt: 1 },
      state: 'SANDBOX_READY',
      created_at: '1700000000000000000',
      labels: { app: 'web' },
      annotations: { a: 'b' },
      runtime_handler: 'runc',
    });
    expect(podSandboxToProto(sandbox({ state: 'NOTREADY' })).state).toBe('SANDBOX_NOTREADY');
  });

  it('reports the first IP as the pod IP and the rest as additional IPs, with the namespace modes', () => {
    const s = podSandboxStatusToProto(sandbox());
    expect(s.state).toBe('SANDBOX_READY');
    expect(s.network).toEqual({ ip: '10.88.0.5', additional_ips: [{ ip: 'fd00::5' }] });
    expect(s.linux).toEqual({ namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '' } } });
  });

  it('reports no IP for a host-network pod or a pod without addresses', () => {
    expect(podSandboxStatusToProto(sandbox({ hostNetwork: true, state: 'NOTREADY' }))).toMatchObject({ state: 'SANDBOX_NOTREADY', network: { ip: '', additional_ips: [] } });
    expect(podSandboxStatusToProto(sandbox({ ips: [] })).network).toEqual({ ip: '', additional_ips: [] });
  });
});

describe('user namespace options', () => {
  const ids = [{ host_id: 100000, container_id: 0, length: 65536 }];
  const ns = (userns: unknown): LinuxSandboxSecurityContext__Output['namespace_options'] =>
    ({ network: 'POD', pid: 'POD', ipc: 'POD', target_id: '', userns_options: userns }) as LinuxSandboxSecurityContext__Output['namespace_options'];

  it('maps mode and mappings (enum as name or number); null is the host user namespace', () => {
    expect(sandboxConfigFromProto(withSecurity({ namespace_options: ns({ mode: 'POD', uids: ids, gids: ids }) })).namespaceOptions).toEqual({
      network: 'POD',
      pid: 'POD',
      ipc: 'POD',
      userns: { mode: 'POD', uids: [{ hostId: 100000, containerId: 0, length: 65536 }], gids: [{ hostId: 100000, containerId: 0, length: 65536 }] },
    });
    expect(sandboxConfigFromProto(withSecurity({ namespace_options: ns({ mode: num(2), uids: [], gids: [] }) })).namespaceOptions.userns).toEqual({ mode: 'NODE', uids: [], gids: [] });
    expect(sandboxConfigFromProto(withSecurity({ namespace_options: ns(null) })).namespaceOptions.userns).toBeUndefined();
    expect(() => sandboxConfigFromProto(withSecurity({ namespace_options: ns({ mode: num(7), uids: [], gids: [] }) }))).toThrow('namespace_options.userns_options.mode: unknown value 7');
  });

  it('reports the pod\'s user namespace options in PodSandboxStatus', () => {
    const config = sandboxConfigFromProto(withSecurity({ namespace_options: ns({ mode: 'POD', uids: ids, gids: ids }) }));
    const s = { id: 'sb1', config, metadata: config.metadata, runtimeHandler: 'runc', createdAtNs: '1', state: 'READY', hostNetwork: false, bundle: '/b', cgroupsPath: '', cgroupParent: '', namespaceOptions: config.namespaceOptions, hostname: 'web', hostnamePath: '/h', hostsPath: '/hosts', resolvConfPath: '/r', pid: 1, monitorPid: 2, ips: [], labels: {}, annotations: {}, sysctls: {}, security: config.security, networkDown: false } as Sandbox;
    expect(podSandboxStatusToProto(s).linux?.namespaces?.options).toEqual({ network: 'POD', pid: 'POD', ipc: 'POD', target_id: '', userns_options: { mode: 'POD', uids: ids, gids: ids } });
  });
});
