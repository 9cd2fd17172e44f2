// Container proto <-> domain mapping (src/runtime never sees protobuf types).
import { InvalidArgumentError } from '../../lib/errors.js';
import type {
  ContainerConfig,
  ContainerMount,
  LinuxContainerResources,
  LinuxContainerSecurityContext,
  MountPropagation,
  NamespaceMode,
  SecurityProfile,
  SecurityProfileType,
  SupplementalGroupsPolicy,
} from '../../runtime/container/container-config.js';
import type { Container, ContainerFilter, ContainerState } from '../../runtime/container/container-record.js';
import { legacySecurityProfile } from '../../runtime/oci-spec/legacy-profile.js';
import type { Container as ProtoContainer } from '../generated/runtime/v1/Container.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { ContainerFilter__Output } from '../generated/runtime/v1/ContainerFilter.js';
import type { ContainerStatus } from '../generated/runtime/v1/ContainerStatus.js';
import type { LinuxContainerResources as ProtoResources } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { LinuxContainerSecurityContext__Output } from '../generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { Mount } from '../generated/runtime/v1/Mount.js';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import type { SecurityProfile__Output } from '../generated/runtime/v1/SecurityProfile.js';
import { resourcesFromProto, usernsFromProto } from './sandbox-mapping.js';

const MODES: readonly NamespaceMode[] = ['POD', 'CONTAINER', 'NODE', 'TARGET'];
const PROPAGATIONS: readonly MountPropagation[] = ['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'];
const PROFILE_TYPES: readonly SecurityProfileType[] = ['RuntimeDefault', 'Unconfined', 'Localhost'];
const GROUPS_POLICIES: readonly SupplementalGroupsPolicy[] = ['Merge', 'Strict'];

function enumValue<T extends string>(values: readonly T[], v: unknown, field: string): T {
  if (typeof v === 'number' && values[v] !== undefined) return values[v];
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  throw new InvalidArgumentError(`${field}: unknown value ${JSON.stringify(v)}`);
}

function int(v: string, field: string): number {
  const n = Number(v);
  if (v === '' || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field}: "${v}" is not a valid integer`);
  return n;
}

function profile(p: SecurityProfile__Output | null | undefined, field: string): SecurityProfile | undefined {
  if (!p) return undefined;
  // An enum value this CRI version does not know arrives as a number: refuse it rather than run unconfined.
  const type = enumValue(PROFILE_TYPES, p.profile_type, `${field}.profile_type`);
  return type === 'Localhost' ? { profileType: type, localhostRef: p.localhost_ref } : { profileType: type };
}

function mountFromProto(m: Mount__Output, i: number): ContainerMount {
  const out: ContainerMount = {
    containerPath: m.container_path,
    hostPath: m.host_path,
    readonly: m.readonly,
    selinuxRelabel: m.selinux_relabel,
    propagation: enumValue(PROPAGATIONS, m.propagation, `mounts[${i}].propagation`),
    recursiveReadOnly: m.recursive_read_only,
  };
  if (m.uidMappings.length > 0) out.uidMappings = m.uidMappings.map((x) => ({ hostId: x.host_id, containerId: x.container_id, length: x.length }));
  if (m.gidMappings.length > 0) out.gidMappings = m.gidMappings.map((x) => ({ hostId: x.host_id, containerId: x.container_id, length: x.length }));
  if (m.image && m.image.image !== '') {
    out.image = { image: m.image.image };
    if (m.image_sub_path) out.imageSubPath = m.image_sub_path;
  }
  return out;
}

function securityFromProto(sc: LinuxContainerSecurityContext__Output | null | undefined): LinuxContainerSecurityContext | undefined {
  if (!sc) return undefined;
  const out: LinuxContainerSecurityContext = {
    privileged: sc.privileged,
    readonlyRootfs: sc.readonly_rootfs,
    noNewPrivs: sc.no_new_privs,
    supplementalGroups: sc.supplemental_groups.map((g, i) => int(g, `supplemental_groups[${i}]`)),
    supplementalGroupsPolicy: enumValue(GROUPS_POLICIES, sc.supplemental_groups_policy, 'supplemental_groups_policy'),
    maskedPaths: [...sc.masked_paths],
    readonlyPaths: [...sc.readonly_paths],
  };
  if (sc.capabilities) {
    out.capabilities = {
      addCapabilities: [...sc.capabilities.add_capabilities],
      dropCapabilities: [...sc.capabilities.drop_capabilities],
      addAmbientCapabilities: [...sc.capabilities.add_ambient_capabilities],
    };
  }
  if (sc.namespace_options) {
    const ns = sc.namespace_options;
    out.namespaceOptions = {
      network: enumValue(MODES, ns.network, 'namespace_options.network'),
      pid: enumValue(MODES, ns.pid, 'namespace_options.pid'),
      ipc: enumValue(MODES, ns.ipc, 'namespace_options.ipc'),
      ...(ns.target_id ? { targetId: ns.target_id } : {}),
    };
    const userns = usernsFromProto(ns.userns_options, 'namespace_options.userns_options');
    if (userns) out.namespaceOptions.userns = userns;
  }
  if (sc.selinux_options) out.selinuxOptions = { ...sc.selinux_options };
  if (sc.run_as_user) out.runAsUser = int(sc.run_as_user.value, 'run_as_user');
  if (sc.run_as_group) out.runAsGroup = int(sc.run_as_group.value, 'run_as_group');
  if (sc.run_as_username) out.runAsUsername = sc.run_as_username;
  // A group needs a user to go with (CRI spec; containerd and CRI-O refuse it too).
  if (out.runAsGroup !== undefined && out.runAsUser === undefined && out.runAsUsername === undefined) {
    throw new InvalidArgumentError('linux.security_context.run_as_group is set without run_as_user or run_as_username');
  }
  const seccomp = profile(sc.seccomp, 'seccomp') ?? legacySecurityProfile(sc.seccomp_profile_path, 'seccomp_profile_path');
  if (seccomp) out.seccomp = seccomp;
  const apparmor = profile(sc.apparmor, 'apparmor') ?? legacySecurityProfile(sc.apparmor_profile, 'apparmor_profile');
  if (apparmor) out.apparmor = apparmor;
  return out;
}

export function containerConfigFromProto(c: ContainerConfig__Output | null): ContainerConfig {
  if (!c) throw new InvalidArgumentError('CreateContainer: config is required');
  if (!c.metadata) throw new InvalidArgumentError('container config: metadata is required');
  if (!c.image) throw new InvalidArgumentError('container config: image is required');
  const cfg: ContainerConfig = {
    metadata: { name: c.metadata.name, attempt: c.metadata.attempt },
    image: { image: c.image.image, ...(c.image.user_specified_image ? { userSpecifiedImage: c.image.user_specified_image } : {}) },
    command: [...c.command],
    args: [...c.args],
    workingDir: c.working_dir,
    envs: c.envs.map((e) => ({ key: e.key, value: Buffer.isBuffer(e.value) ? e.value.toString('utf8') : String(e.value) })),
    mounts: c.mounts.map(mountFromProto),
    devices: c.devices.map((d) => ({ containerPath: d.container_path, hostPath: d.host_path, permissions: d.permissions })),
    labels: { ...c.labels },
    annotations: { ...c.annotations },
    logPath: c.log_path,
    stdin: c.stdin,
    stdinOnce: c.stdin_once,
    tty: c.tty,
    cdiDevices: c.CDI_devices.map((d) => ({ name: d.name })),
  };
  const stop = typeof c.stop_signal === 'number' ? undefined : c.stop_signal;
  if (stop && stop !== 'RUNTIME_DEFAULT') cfg.stopSignal = stop;
  const resources = resourcesFromProto(c.linux?.resources, 'linux.resources');
  const security = securityFromProto(c.linux?.security_context);
  if (resources || security) cfg.linux = { ...(resources ? { resources } : {}), ...(security ? { securityContext: security } : {}) };
  return cfg;
}

const STATE_TO_PROTO: Record<ContainerState, 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN'> = {
  CREATED: 'CONTAINER_CREATED',
  RUNNING: 'CONTAINER_RUNNING',
  EXITED: 'CONTAINER_EXITED',
  UNKNOWN: 'CONTAINER_UNKNOWN',
};

export function stateFromProto(v: unknown): ContainerState {
  switch (v) {
    case 'CONTAINER_CREATED':
    case 0:
      return 'CREATED';
    case 'CONTAINER_RUNNING':
    case 1:
      return 'RUNNING';
    case 'CONTAINER_EXITED':
    case 2:
      return 'EXITED';
    default:
      return 'UNKNOWN';
  }
}

export function containerFilterFromProto(f: ContainerFilter__Output | null | undefined): ContainerFilter {
  const out: ContainerFilter = {};
  if (!f) return out;
  if (f.id) out.id = f.id;
  if (f.state) out.state = stateFromProto(f.state.state);
  if (f.pod_sandbox_id) out.podSandboxId = f.pod_sandbox_id;
  if (Object.keys(f.label_selector).length > 0) out.labelSelector = { ...f.label_selector };
  return out;
}

function imageSpec(c: Container): { image: string; annotations: Record<string, string>; user_specified_image: string } {
  return { image: c.image.requested, annotations: {}, user_specified_image: c.config.image.userSpecifiedImage ?? c.image.requested };
}

export function containerToProto(c: Container): ProtoContainer {
  return {
    id: c.id,
    pod_sandbox_id: c.podSandboxId,
    metadata: { ...c.config.metadata },
    image: imageSpec(c),
    image_ref: c.image.ref,
    image_id: c.image.id,
    state: STATE_TO_PROTO[c.status.state],
    created_at: c.createdAtNs,
    labels: c.config.labels ?? {},
    annotations: c.config.annotations ?? {},
  };
}

export function resourcesToProto(r: LinuxContainerResources | undefined): ProtoResources {
  const x = r ?? {};
  return {
    cpu_period: x.cpuPeriod ?? 0,
    cpu_quota: x.cpuQuota ?? 0,
    cpu_shares: x.cpuShares ?? 0,
    memory_limit_in_bytes: x.memoryLimitInBytes ?? 0,
    oom_score_adj: x.oomScoreAdj ?? 0,
    cpuset_cpus: x.cpusetCpus ?? '',
    cpuset_mems: x.cpusetMems ?? '',
    hugepage_limits: (x.hugepageLimits ?? []).map((h) => ({ page_size: h.pageSize, limit: h.limit })),
    unified: x.unified ?? {},
    memory_swap_limit_in_bytes: x.memorySwapLimitInBytes ?? 0,
  };
}

function mountToProto(m: ContainerMount): Mount {
  return {
    container_path: m.containerPath,
    host_path: m.hostPath,
    readonly: m.readonly === true,
    selinux_relabel: m.selinuxRelabel === true,
    propagation: m.propagation ?? 'PROPAGATION_PRIVATE',
    recursive_read_only: m.recursiveReadOnly === true,
  };
}

export function containerStatusToProto(c: Container): ContainerStatus {
  const s = c.status;
  const signal = /^SIG[A-Z0-9]+$/.test(c.stopSignal) ? c.stopSignal : 'RUNTIME_DEFAULT';
  return {
    id: c.id,
    metadata: { ...c.config.metadata },
    state: STATE_TO_PROTO[s.state],
    created_at: c.createdAtNs,
    started_at: s.startedAtNs ?? '0',
    finished_at: s.finishedAtNs ?? '0',
    exit_code: s.exitCode ?? 0,
    image: imageSpec(c),
    image_ref: c.image.ref,
    image_id: c.image.id,
    reason: s.reason ?? '',
    message: s.message ?? '',
    labels: c.config.labels ?? {},
    annotations: c.config.annotations ?? {},
    mounts: c.mounts.map(mountToProto),
    log_path: c.logPath,
    resources: { linux: resourcesToProto(c.resources) },
    user: { linux: { uid: c.user.uid, gid: c.user.gid, supplemental_groups: c.user.additionalGids } },
    stop_signal: signal as ContainerStatus['stop_signal'],
  };
}
