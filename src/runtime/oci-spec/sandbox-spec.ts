// buildSandboxSpec: the OCI config.json of a pod's infra (pause) container. The infra process
// creates and holds the pod's ipc/uts (and pid when shared) namespaces and joins the pinned
// network namespace; app containers join them through /proc/<infra pid>/ns. A pod with its own
// user namespace has the infra create it, and its network namespace inside it (so the pod's root
// owns its network: sysfs, low ports), which the daemon pins afterwards. Pure, like
// buildContainerSpec, and built from the same defaults.
import { InvalidArgumentError } from '../../lib/errors.js';
import type { HostFacts, IdMappings, LinuxContainerResources, NamespaceMode, SecurityProfile, SelinuxOption } from '../container/container-config.js';
import { availableCapabilities, computeCapabilities } from './capabilities.js';
import { apparmorProfile, clampRlimits, seccompRuleContext } from './container-spec.js';
import { DEFAULT_PATH_ENV, defaultDeviceCgroupRules, defaultMaskedPaths, defaultReadonlyPaths, defaultRlimits, privilegedDeviceCgroupRules } from './defaults.js';
import { planMounts } from './mounts.js';
import { buildResources, cgroupsPathFor, clampOomScoreAdj } from './resources.js';
import { runtimeDefaultSeccomp } from './seccomp-default.js';
import { resolveLocalhostSeccomp, type LocalhostSeccomp } from './seccomp-localhost.js';
import { OCI_VERSION, type LinuxNamespace, type Spec } from './types.js';
import { ociMappings } from './userns.js';

/** containerd gives the infra process this score so the pod's containers die first under OOM. */
export const SANDBOX_OOM_SCORE_ADJ = -998;

export interface SandboxSecurityContext {
  privileged?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups?: number[];
  /** Default true: the infra rootfs is never written to. */
  readonlyRootfs?: boolean;
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
  selinuxOptions?: SelinuxOption;
}

export interface SandboxSpecInput {
  /** Sandbox id (names the infra cgroup). */
  id: string;
  name: string;
  namespace: string;
  uid: string;
  hostname: string;
  /** The infra process argv, e.g. ['/catatonit', '-P'] or the pause image's entrypoint. */
  args: string[];
  env?: string[];
  /** root.path; default "rootfs". */
  rootfsPath?: string;
  /** Pinned network namespace to join; undefined when network is NODE or the pod has its own user namespace. */
  netnsPath?: string;
  /** The pod's own user namespace: created by the infra with these mappings (with a new network namespace). */
  userns?: IdMappings;
  namespaceOptions: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode };
  cgroupParent: string;
  /** The pod's /dev/shm tmpfs on the host (not used for host-IPC pods, which get the host's). */
  shmPath?: string;
  /** Namespaced sysctls (validated by the caller). */
  sysctls?: Record<string, string>;
  securityContext?: SandboxSecurityContext;
  /** Resources of the infra container itself (usually none; pod limits go on the pod cgroup). */
  resources?: LinuxContainerResources;
  host: HostFacts;
  /** The pod's Localhost profile as loaded (its rules' conditions are resolved against the infra process). */
  localhostSeccomp?: LocalhostSeccomp;
  logDirectory?: string;
  selinuxProcessLabel?: string;
  selinuxMountLabel?: string;
}

export function buildSandboxSpec(input: SandboxSpecInput): Spec {
  const { host } = input;
  const sc = input.securityContext ?? {};
  const privileged = sc.privileged === true;
  if (input.args.length === 0) throw new InvalidArgumentError(`pod sandbox "${input.id}": no infra command`);
  const gid = sc.runAsGroup ?? 0;
  const additionalGids = [gid, ...(sc.supplementalGroups ?? []).filter((g) => g !== gid)];
  const capabilities = computeCapabilities(undefined, privileged, availableCapabilities(host));

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: sc.runAsUser ?? 0, gid, additionalGids },
      args: [...input.args],
      env: input.env ? [...input.env] : [DEFAULT_PATH_ENV],
      cwd: '/',
      capabilities,
      rlimits: clampRlimits(defaultRlimits(), host.nofileHardLimit),
      noNewPrivileges: true,
      oomScoreAdj: clampOomScoreAdj(SANDBOX_OOM_SCORE_ADJ, host.daemonOomScoreAdj),
    },
    root: { path: input.rootfsPath ?? 'rootfs', readonly: sc.readonlyRootfs ?? true },
    annotations: {
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': input.id,
      'io.kubernetes.cri.sandbox-name': input.name,
      'io.kubernetes.cri.sandbox-namespace': input.namespace,
      'io.kubernetes.cri.sandbox-uid': input.uid,
      ...(input.logDirectory ? { 'io.kubernetes.cri.sandbox-log-directory': input.logDirectory } : {}),
    },
    linux: {},
  };
  const linux = spec.linux!;
  const opts = input.namespaceOptions;

  const ns: LinuxNamespace[] = [{ type: 'mount' }];
  if (input.userns) {
    if (opts.network === 'NODE') throw new InvalidArgumentError(`pod sandbox "${input.id}": a pod with its own user namespace needs a pod network`);
    ns.push({ type: 'user' });
    linux.uidMappings = ociMappings(input.userns.uids);
    linux.gidMappings = ociMappings(input.userns.gids);
  }
  if (opts.network !== 'NODE') {
    if (input.userns) ns.push({ type: 'network' });
    else if (!input.netnsPath) throw new InvalidArgumentError(`pod sandbox "${input.id}": no network namespace path for a pod network`);
    else ns.push({ type: 'network', path: input.netnsPath });
    // own uts: the pod's hostname; host-network pods keep the node's
    ns.push({ type: 'uts' });
    spec.hostname = input.hostname;
  }
  if (opts.ipc !== 'NODE') ns.push({ type: 'ipc' });
  if (opts.pid !== 'NODE') ns.push({ type: 'pid' });
  if (host.cgroupV2) ns.push({ type: 'cgroup' });
  linux.namespaces = ns;

  const shm =
    opts.ipc === 'NODE'
      ? [{ containerPath: '/dev/shm', hostPath: '/dev/shm', readonly: false }]
      : input.shmPath
        ? [{ containerPath: '/dev/shm', hostPath: input.shmPath, readonly: true }]
        : [];
  spec.mounts = planMounts([], shm, host, privileged).mounts;

  const resources = buildResources(input.resources, host);
  resources.devices = privileged ? privilegedDeviceCgroupRules() : defaultDeviceCgroupRules();
  linux.resources = resources;
  linux.cgroupsPath = cgroupsPathFor(host.cgroupDriver, input.cgroupParent, input.id);
  if (input.sysctls && Object.keys(input.sysctls).length > 0) linux.sysctl = { ...input.sysctls };

  if (!privileged) {
    linux.maskedPaths = defaultMaskedPaths();
    linux.readonlyPaths = defaultReadonlyPaths();
    const profile = sc.seccomp;
    if (profile?.profileType === 'RuntimeDefault') {
      linux.seccomp = runtimeDefaultSeccomp(host.arch ? { capabilities: capabilities.bounding ?? [], arch: host.arch } : { capabilities: capabilities.bounding ?? [] });
    } else if (profile?.profileType === 'Localhost') {
      if (!input.localhostSeccomp) throw new InvalidArgumentError(`seccomp profile "${profile.localhostRef ?? ''}" was not loaded`);
      linux.seccomp = resolveLocalhostSeccomp(input.localhostSeccomp, seccompRuleContext(capabilities.bounding ?? [], host));
    }
    if (host.selinuxEnabled) {
      if (input.selinuxProcessLabel) spec.process!.selinuxLabel = input.selinuxProcessLabel;
      if (input.selinuxMountLabel) linux.mountLabel = input.selinuxMountLabel;
    }
  }
  // A container's rule (a Localhost profile applies to a privileged pod too, an empty name is
  // refused), but a node without AppArmor just runs the infra process without one: the kubelet
  // admits such pods only where AppArmor is, and the pause process needs none.
  const apparmor = host.apparmorEnabled ? apparmorProfile(sc.apparmor, privileged, host) : undefined;
  if (apparmor) spec.process!.apparmorProfile = apparmor;
  return spec;
}
