// Pod sandbox proto <-> domain mapping (src/runtime never sees protobuf types).
import { InvalidArgumentError } from '../../lib/errors.js';
import type { IdMapping, LinuxContainerResources, NamespaceMode, SecurityProfile, UserNamespaceOption } from '../../runtime/container/container-config.js';
import type { PortMapping } from '../../runtime/network/network-plugin.js';
import type { Sandbox, SandboxConfig, SandboxFilter } from '../../runtime/sandbox/sandbox-config.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { PodSandbox } from '../generated/runtime/v1/PodSandbox.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { PodSandboxFilter__Output } from '../generated/runtime/v1/PodSandboxFilter.js';
import type { PodSandboxStatus } from '../generated/runtime/v1/PodSandboxStatus.js';
import type { SecurityProfile__Output } from '../generated/runtime/v1/SecurityProfile.js';
import type { IDMapping__Output } from '../generated/runtime/v1/IDMapping.js';
import type { UserNamespace, UserNamespace__Output } from '../generated/runtime/v1/UserNamespace.js';

const MODES: readonly NamespaceMode[] = ['POD', 'CONTAINER', 'NODE', 'TARGET'];

function mode(v: unknown, field: string): NamespaceMode {
  if (typeof v === 'number') return MODES[v] ?? invalid(field, v);
  if (typeof v === 'string' && (MODES as readonly string[]).includes(v)) return v as NamespaceMode;
  return invalid(field, v);
}

function invalid(field: string, v: unknown): never {
  throw new InvalidArgumentError(`${field}: unknown value ${JSON.stringify(v)}`);
}

function int(v: string | undefined, field: string): number {
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field}: "${v}" is not a valid integer`);
  return n;
}

function idMappings(ms: readonly IDMapping__Output[], field: string): IdMapping[] {
  return ms.map((m, i) => {
    for (const [k, v] of [['host_id', m.host_id], ['container_id', m.container_id], ['length', m.length]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(`${field}[${i}].${k}: ${JSON.stringify(v)} is not a valid id`);
    }
    return { hostId: m.host_id, containerId: m.container_id, length: m.length };
  });
}

/** NamespaceOption.userns_options (pods and containers); null = unset (the host's user namespace). */
export function usernsFromProto(u: UserNamespace__Output | null | undefined, field: string): UserNamespaceOption | undefined {
  if (!u) return undefined;
  return { mode: mode(u.mode, `${field}.mode`), uids: idMappings(u.uids, `${field}.uids`), gids: idMappings(u.gids, `${field}.gids`) };
}

function usernsToProto(u: UserNamespaceOption): UserNamespace {
  const ids = (ms: readonly IdMapping[]): { host_id: number; container_id: number; length: number }[] => ms.map((m) => ({ host_id: m.hostId, container_id: m.containerId, length: m.length }));
  return { mode: u.mode, uids: ids(u.uids), gids: ids(u.gids) };
}

export function resourcesFromProto(r: LinuxContainerResources__Output | null | undefined, field: string): LinuxContainerResources | undefined {
  if (!r) return undefined;
  const out: LinuxContainerResources = {
    cpuPeriod: int(r.cpu_period, `${field}.cpu_period`),
    cpuQuota: int(r.cpu_quota, `${field}.cpu_quota`),
    cpuShares: int(r.cpu_shares, `${field}.cpu_shares`),
    memoryLimitInBytes: int(r.memory_limit_in_bytes, `${field}.memory_limit_in_bytes`),
    oomScoreAdj: int(r.oom_score_adj, `${field}.oom_score_adj`),
    cpusetCpus: r.cpuset_cpus,
    cpusetMems: r.cpuset_mems,
    hugepageLimits: r.hugepage_limits.map((h) => ({ pageSize: h.page_size, limit: int(h.limit, `${field}.hugepage_limits.limit`) })),
    unified: { ...r.unified },
    memorySwapLimitInBytes: int(r.memory_swap_limit_in_bytes, `${field}.memory_swap_limit_in_bytes`),
  };
  return out;
}

function profile(p: SecurityProfile__Output | null | undefined, field: string): SecurityProfile | undefined {
  if (!p) return undefined;
  const type = typeof p.profile_type === 'number' ? (['RuntimeDefault', 'Unconfined', 'Localhost'] as const)[p.profile_type] : p.profile_type;
  // An enum value this CRI version does not know arrives as a number: refuse it rather than run unconfined.
  if (type === undefined) return invalid(`${field}.profile_type`, p.profile_type);
  return { profileType: type, localhostRef: p.localhost_ref };
}

function protocol(v: unknown): PortMapping['protocol'] {
  if (v === 'TCP' || v === 0) return 'tcp';
  if (v === 'UDP' || v === 1) return 'udp';
  if (v === 'SCTP' || v === 2) return 'sctp';
  return invalid('port_mappings.protocol', v);
}

export function sandboxConfigFromProto(c: PodSandboxConfig__Output | null): SandboxConfig {
  if (!c) throw new InvalidArgumentError('RunPodSandbox: config is required');
  if (!c.metadata) throw new InvalidArgumentError('pod sandbox config: metadata is required');
  const linux = c.linux;
  const sc = linux?.security_context;
  const ns = sc?.namespace_options;
  const dns = c.dns_config;
  const cfg: SandboxConfig = {
    metadata: { name: c.metadata.name, uid: c.metadata.uid, namespace: c.metadata.namespace, attempt: c.metadata.attempt },
    hostname: c.hostname,
    logDirectory: c.log_directory,
    portMappings: c.port_mappings.map((p) => ({ hostPort: p.host_port, containerPort: p.container_port, protocol: protocol(p.protocol), hostIP: p.host_ip })),
    labels: { ...c.labels },
    annotations: { ...c.annotations },
    cgroupParent: linux?.cgroup_parent ?? '',
    sysctls: { ...(linux?.sysctls ?? {}) },
    namespaceOptions: {
      network: mode(ns?.network ?? 'POD', 'namespace_options.network'),
      pid: mode(ns?.pid ?? 'POD', 'namespace_options.pid'),
      ipc: mode(ns?.ipc ?? 'POD', 'namespace_options.ipc'),
    },
    security: {
      privileged: sc?.privileged ?? false,
      supplementalGroups: (sc?.supplemental_groups ?? []).map((g) => int(g, 'supplemental_groups')),
      readonlyRootfs: sc?.readonly_rootfs ?? false,
    },
  };
  const userns = usernsFromProto(ns?.userns_options, 'namespace_options.userns_options');
  if (userns) cfg.namespaceOptions.userns = userns;
  if (dns) cfg.dns = { servers: [...dns.servers], searches: [...dns.searches], options: [...dns.options] };
  if (sc?.run_as_user) cfg.security.runAsUser = int(sc.run_as_user.value, 'run_as_user');
  if (sc?.run_as_group) cfg.security.runAsGroup = int(sc.run_as_group.value, 'run_as_group');
  // A group needs a user to go with (CRI spec; containerd refuses it too).
  if (cfg.security.runAsGroup !== undefined && cfg.security.runAsUser === undefined) {
    throw new InvalidArgumentError('pod sandbox linux.security_context.run_as_group is set without run_as_user');
  }
  const seccomp = profile(sc?.seccomp, 'seccomp');
  if (seccomp) cfg.security.seccomp = seccomp;
  const apparmor = profile(sc?.apparmor, 'apparmor');
  if (apparmor) cfg.security.apparmor = apparmor;
  const overhead = resourcesFromProto(linux?.overhead, 'linux.overhead');
  if (overhead) cfg.overhead = overhead;
  const resources = resourcesFromProto(linux?.resources, 'linux.resources');
  if (resources) cfg.resources = resources;
  return cfg;
}

export function sandboxFilterFromProto(f: PodSandboxFilter__Output | null | undefined): SandboxFilter {
  const out: SandboxFilter = {};
  if (!f) return out;
  if (f.id) out.id = f.id;
  if (f.state) out.state = f.state.state === 'SANDBOX_READY' ? 'READY' : 'NOTREADY';
  if (Object.keys(f.label_selector).length > 0) out.labelSelector = { ...f.label_selector };
  return out;
}

function protoState(s: Sandbox): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' {
  return s.state === 'READY' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

export function podSandboxToProto(s: Sandbox): PodSandbox {
  return {
    id: s.id,
    metadata: { ...s.metadata },
    state: protoState(s),
    created_at: s.createdAtNs,
    labels: s.labels,
    annotations: s.annotations,
    runtime_handler: s.runtimeHandler,
  };
}

export function podSandboxStatusToProto(s: Sandbox): PodSandboxStatus {
  const [ip, ...more] = s.hostNetwork ? [] : s.ips;
  return {
    id: s.id,
    metadata: { ...s.metadata },
    state: protoState(s),
    created_at: s.createdAtNs,
    network: { ip: ip ?? '', additional_ips: more.map((a) => ({ ip: a })) },
    linux: {
      namespaces: {
        options: {
          network: s.namespaceOptions.network,
          pid: s.namespaceOptions.pid,
          ipc: s.namespaceOptions.ipc,
          target_id: '',
          ...(s.namespaceOptions.userns ? { userns_options: usernsToProto(s.namespaceOptions.userns) } : {}),
        },
      },
    },
    labels: s.labels,
    annotations: s.annotations,
    runtime_handler: s.runtimeHandler,
  };
}
