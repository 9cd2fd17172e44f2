// buildContainerSpec: the OCI config.json of an application container, from its CRI config, its
// image's config, the pod sandbox and the node. Pure: everything read from disk (passwd/group
// contents, device nodes, a Localhost seccomp profile) is passed in by the caller.
import { release } from 'node:os';
import { FailedPreconditionError, InternalError, InvalidArgumentError } from '../../lib/errors.js';
import type { ContainerConfig, HostDevice, HostFacts, ImageProcessConfig, NamespaceMode, SandboxFacts, SecurityProfile } from '../container/container-config.js';
import { availableCapabilities, computeCapabilities } from './capabilities.js';
import { applyCdiEdits, type CdiContainerEdits } from './cdi.js';
import { defaultDeviceCgroupRules, defaultMaskedPaths, defaultReadonlyPaths, defaultRlimits, privilegedDeviceCgroupRules } from './defaults.js';
import type { ResolvedDevice } from './device-info.js';
import { checkContainerPath, planMounts, sandboxMounts } from './mounts.js';
import { mergeCommand, mergeEnv } from './process-args.js';
import { buildResources, cgroupsPathFor, clampOomScoreAdj } from './resources.js';
import { runtimeDefaultSeccomp } from './seccomp-default.js';
import { resolveLocalhostSeccomp, type LocalhostSeccomp, type SeccompRuleContext } from './seccomp-localhost.js';
import { OCI_VERSION, type LinuxDevice, type LinuxDeviceCgroup, type LinuxNamespace, type Rlimit, type Seccomp, type Spec } from './types.js';
import { resolveUser, type ResolvedUser, type UserFiles } from './user.js';
import { checkContainerUserns, ociMappings } from './userns.js';

export interface ContainerSpecInput {
  /** Container id (names the cgroup). */
  id: string;
  config: ContainerConfig;
  /** The image config's process defaults (User, Env, Entrypoint, Cmd, WorkingDir). */
  image: ImageProcessConfig;
  sandbox: SandboxFacts;
  host: HostFacts;
  /** root.path, relative to the bundle or absolute; default "rootfs". */
  rootfsPath?: string;
  /** Contents of the rootfs /etc/passwd and /etc/group (for user names and groups). */
  userFiles?: UserFiles;
  /** config.devices resolved by device-info.ts resolveDevices(). */
  devices?: ResolvedDevice[];
  /** Host device nodes (device-info.ts listDevices()) given to a privileged container. */
  hostDevices?: HostDevice[];
  /** The profile loaded by seccomp-localhost.ts when seccomp is Localhost (its rules' conditions are resolved here). */
  localhostSeccomp?: LocalhostSeccomp;
  /** Pid of the target container's process when the pid namespace mode is TARGET. */
  targetPid?: number;
  /** Daemon-wide pids.max per container; 0/undefined = none. */
  pidsLimit?: number;
  /** Edits of config.cdiDevices: cdi.ts cdiEditsFor() + cdi-loader.ts completeDeviceNodes(). */
  cdiEdits?: CdiContainerEdits[];
}

export interface BuiltContainerSpec {
  spec: Spec;
  /** The resolved process user (for ContainerStatus.user). */
  user: ResolvedUser;
}

export function buildContainerSpec(input: ContainerSpecInput): BuiltContainerSpec {
  const { config, sandbox, host } = input;
  const sc = config.linux?.securityContext ?? {};
  const privileged = sc.privileged === true;
  const what = `container "${config.metadata.name}"`;
  if (privileged && !sandbox.privileged) {
    throw new InvalidArgumentError(`${what}: a privileged container needs a privileged pod sandbox`);
  }

  const args = mergeCommand(config.command, config.args, input.image.Entrypoint, input.image.Cmd);
  const cwd = config.workingDir || input.image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new InvalidArgumentError(`${what}: working directory "${cwd}" must be absolute`);

  const user = resolveUser(
    {
      runAsUser: sc.runAsUser,
      runAsUsername: sc.runAsUsername,
      runAsGroup: sc.runAsGroup,
      imageUser: input.image.User,
      supplementalGroups: sc.supplementalGroups,
      supplementalGroupsPolicy: sc.supplementalGroupsPolicy,
    },
    input.userFiles ?? {},
  );
  const capabilities = computeCapabilities(sc.capabilities, privileged, availableCapabilities(host));

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.tty === true,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args,
      env: mergeEnv(input.image.Env, config.envs, sandbox.hostname),
      cwd,
      capabilities,
      rlimits: clampRlimits(defaultRlimits(), host.nofileHardLimit),
      noNewPrivileges: sc.noNewPrivs === true,
      oomScoreAdj: clampOomScoreAdj(config.linux?.resources?.oomScoreAdj ?? 0, host.daemonOomScoreAdj),
    },
    root: { path: input.rootfsPath ?? 'rootfs', readonly: sc.readonlyRootfs === true },
    annotations: criAnnotations(input),
    linux: {},
  };
  const proc = spec.process!;
  const linux = spec.linux!;

  const apparmor = apparmorProfile(sc.apparmor, privileged, host);
  if (apparmor) proc.apparmorProfile = apparmor;
  if (host.selinuxEnabled && !privileged) {
    const label = selinuxLabel(sandbox.selinuxProcessLabel, sc.selinuxOptions);
    if (label) proc.selinuxLabel = label;
    const mountLabel = selinuxLabel(sandbox.selinuxMountLabel, sc.selinuxOptions?.level ? { level: sc.selinuxOptions.level } : undefined);
    if (mountLabel) linux.mountLabel = mountLabel;
  }

  // namespaces: net/ipc/uts (and user) always follow the pod; pid may be the container's own or a target's
  checkContainerUserns(sc.namespaceOptions?.userns, sandbox.userns, what);
  const pidMode: NamespaceMode = sc.namespaceOptions?.pid ?? sandbox.namespaceOptions.pid;
  linux.namespaces = namespaces(sandbox, pidMode, host, input.targetPid);
  if (sandbox.userns) {
    linux.uidMappings = ociMappings(sandbox.userns.uids);
    linux.gidMappings = ociMappings(sandbox.userns.gids);
  }

  const mountPlan = planMounts(config.mounts ?? [], sandboxMounts(sandbox, sc.readonlyRootfs === true, sandbox.namespaceOptions.ipc), host, privileged);
  spec.mounts = mountPlan.mounts;
  if (mountPlan.rootfsPropagation) linux.rootfsPropagation = mountPlan.rootfsPropagation;

  const devices = buildDevices(input.devices ?? [], privileged ? (input.hostDevices ?? []) : []);
  if (devices.nodes.length > 0) linux.devices = devices.nodes;

  const resources = buildResources(config.linux?.resources, host, { pidsLimit: input.pidsLimit });
  resources.devices = privileged ? privilegedDeviceCgroupRules() : [...defaultDeviceCgroupRules(), ...devices.rules];
  linux.resources = resources;
  linux.cgroupsPath = cgroupsPathFor(host.cgroupDriver, sandbox.cgroupParent, input.id);

  if (!privileged) {
    linux.maskedPaths = sc.maskedPaths && sc.maskedPaths.length > 0 ? sc.maskedPaths.map((p) => checkContainerPath(p, 'masked path')) : defaultMaskedPaths();
    linux.readonlyPaths =
      sc.readonlyPaths && sc.readonlyPaths.length > 0 ? sc.readonlyPaths.map((p) => checkContainerPath(p, 'readonly path')) : defaultReadonlyPaths();
  }

  const seccomp = seccompProfile(sc.seccomp, privileged, capabilities.bounding ?? [], input.localhostSeccomp, host);
  if (seccomp) linux.seccomp = seccomp;
  if (input.cdiEdits && input.cdiEdits.length > 0) applyCdiEdits(spec, input.cdiEdits);
  if (sandbox.userns) devicesAsBinds(spec, input);
  return { spec, user };
}

/**
 * In a user namespace nobody may mknod, and runc 1.1 then binds each device from the host path
 * equal to its container path, which is wrong for a device renamed in the container (CRI devices,
 * CDI nodes). So the devices become binds of their host nodes here; the cgroup rules stay.
 */
function devicesAsBinds(spec: Spec, input: ContainerSpecInput): void {
  const linux = spec.linux!;
  if (!linux.devices || linux.devices.length === 0) return;
  const hostPath = new Map<string, string>();
  for (const d of input.hostDevices ?? []) hostPath.set(d.path, d.path);
  for (const d of input.devices ?? []) hostPath.set(checkContainerPath(d.containerPath, 'device'), d.path);
  for (const e of input.cdiEdits ?? []) for (const n of e.deviceNodes ?? []) hostPath.set(n.path, n.hostPath ?? n.path);
  const binds = linux.devices.map((d) => ({ destination: d.path, type: 'bind', source: hostPath.get(d.path) ?? d.path, options: ['bind', 'rprivate'] }));
  const bound = new Set(binds.map((b) => b.destination));
  spec.mounts = [...(spec.mounts ?? []).filter((m) => !bound.has(m.destination)), ...binds];
  delete linux.devices;
}

/** Every rlimit's hard value at most the daemon's (nofile) hard limit, soft at most hard. */
export function clampRlimits(rlimits: Rlimit[], nofileHard: number): Rlimit[] {
  return rlimits.map((r) => {
    const hard = r.type === 'RLIMIT_NOFILE' ? Math.min(r.hard, nofileHard) : r.hard;
    return { type: r.type, hard, soft: Math.min(r.soft, hard) };
  });
}

function namespaces(sandbox: SandboxFacts, pidMode: NamespaceMode, host: HostFacts, targetPid: number | undefined): LinuxNamespace[] {
  const infra = (ns: string): string => {
    if (!(sandbox.infraPid > 0)) {
      throw new FailedPreconditionError(`pod sandbox "${sandbox.id}": its infra process is not running, cannot join its ${ns} namespace`);
    }
    return `/proc/${sandbox.infraPid}/ns/${ns}`;
  };
  const out: LinuxNamespace[] = [{ type: 'mount' }];
  const opts = sandbox.namespaceOptions;
  // The pod's user namespace first: runc joins in this order, and the pod's network, ipc, uts and
  // pid namespaces belong to it.
  if (sandbox.userns) out.push({ type: 'user', path: infra('user') });
  if (opts.network !== 'NODE') {
    out.push({ type: 'network', path: sandbox.netnsPath ?? infra('net') });
    // a pod on the host network also shares the host's hostname, otherwise the pod's uts
    out.push({ type: 'uts', path: infra('uts') });
  }
  if (opts.ipc !== 'NODE') out.push({ type: 'ipc', path: infra('ipc') });
  switch (pidMode) {
    case 'NODE':
      break;
    case 'POD':
      out.push({ type: 'pid', path: infra('pid') });
      break;
    case 'CONTAINER':
      out.push({ type: 'pid' });
      break;
    case 'TARGET':
      if (!targetPid || targetPid <= 0) {
        throw new InvalidArgumentError(`pid namespace TARGET: the target container is not running`);
      }
      out.push({ type: 'pid', path: `/proc/${targetPid}/ns/pid` });
      break;
    default:
      throw new InvalidArgumentError(`pid namespace mode "${String(pidMode)}" is not known`);
  }
  // cgroup v2: the container sees its own cgroup as the root of /sys/fs/cgroup
  if (host.cgroupV2) out.push({ type: 'cgroup' });
  return out;
}

function buildDevices(devices: readonly ResolvedDevice[], hostDevices: readonly HostDevice[]): { nodes: LinuxDevice[]; rules: LinuxDeviceCgroup[] } {
  const byPath = new Map<string, LinuxDevice>();
  const rules: LinuxDeviceCgroup[] = [];
  for (const d of hostDevices) {
    byPath.set(d.path, { path: d.path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid });
  }
  for (const d of devices) {
    const path = checkContainerPath(d.containerPath, 'device');
    const access = d.permissions === '' ? 'rwm' : d.permissions;
    if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) {
      throw new InvalidArgumentError(`device "${d.path}": permissions "${d.permissions}" must be a combination of r, w and m`);
    }
    byPath.set(path, { path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid });
    rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access });
  }
  return { nodes: [...byPath.values()], rules };
}

function seccompProfile(
  profile: SecurityProfile | undefined,
  privileged: boolean,
  bounding: readonly string[],
  localhost: LocalhostSeccomp | undefined,
  host: HostFacts,
): Seccomp | undefined {
  // containerd runs privileged containers without seccomp; unset means unconfined in CRI
  if (privileged || !profile) return undefined;
  switch (profile.profileType) {
    case 'Unconfined':
      return undefined;
    case 'RuntimeDefault':
      return runtimeDefaultSeccomp(host.arch ? { capabilities: bounding, arch: host.arch } : { capabilities: bounding });
    case 'Localhost':
      if (!localhost) throw new InternalError(`seccomp profile "${profile.localhostRef ?? ''}" was not loaded before building the spec`);
      return resolveLocalhostSeccomp(localhost, seccompRuleContext(bounding, host));
    default:
      throw new InvalidArgumentError(`seccomp profile type "${String(profile.profileType)}" is not known`);
  }
}

/** What a Localhost profile's includes/excludes are resolved against for a process with `bounding`. */
export function seccompRuleContext(bounding: readonly string[], host: HostFacts): SeccompRuleContext {
  return { capabilities: bounding, arch: host.arch ?? process.arch, kernelRelease: host.kernelRelease ?? release() };
}

/** The AppArmor profile for a container or a pod's infra container, as containerd picks it. */
export function apparmorProfile(profile: SecurityProfile | undefined, privileged: boolean, host: HostFacts): string | undefined {
  const type = profile?.profileType ?? 'RuntimeDefault'; // unset means the runtime's default, as in containerd
  if (type === 'Localhost') {
    const name = (profile?.localhostRef ?? '').replace(/^localhost\//, '');
    if (!host.apparmorEnabled) throw new InvalidArgumentError(`apparmor profile "${name}" requested but AppArmor is not enabled on this node`);
    if (name === '') throw new InvalidArgumentError('apparmor: Localhost profile without a name');
    return name;
  }
  if (!host.apparmorEnabled || privileged || type === 'Unconfined') return undefined;
  return host.apparmorDefaultProfile;
}

/** user:role:type:level of `base` with the parts the container sets replaced. */
function selinuxLabel(base: string | undefined, opts: { user?: string; role?: string; type?: string; level?: string } | undefined): string | undefined {
  if (!base) return undefined;
  const parts = base.split(':');
  const [u = '', r = '', t = ''] = parts;
  const level = parts.slice(3).join(':');
  const pick = (want: string | undefined, have: string): string => (want ? want : have);
  const label = [pick(opts?.user, u), pick(opts?.role, r), pick(opts?.type, t)];
  const lvl = pick(opts?.level, level);
  return lvl ? `${label.join(':')}:${lvl}` : label.join(':');
}

/** The annotations containerd puts on a CRI container's spec (hooks and tools key on them). */
function criAnnotations(input: ContainerSpecInput): Record<string, string> {
  const { config, sandbox } = input;
  return {
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.container-name': config.metadata.name,
    'io.kubernetes.cri.sandbox-id': sandbox.id,
    'io.kubernetes.cri.sandbox-name': sandbox.name,
    'io.kubernetes.cri.sandbox-namespace': sandbox.namespace,
    'io.kubernetes.cri.sandbox-uid': sandbox.uid,
    'io.kubernetes.cri.image-name': config.image.userSpecifiedImage || config.image.image,
  };
}
