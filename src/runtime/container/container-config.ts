// Domain input of container creation: a camelCase mirror of CRI's ContainerConfig (no protobuf
// types), plus the facts about the pod sandbox and the host that the OCI spec builder needs.
// src/cri converts the request into these; src/runtime never sees protobuf.
//
// Conventions of the mirror: proto3 "unset" scalars arrive as their zero value (0, '', false), so
// 0 means "not set" for resources exactly as in CRI; wrapper messages (Int64Value) become
// `number | undefined`; empty repeated fields may be passed as [] or left out.

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
export type SupplementalGroupsPolicy = 'Merge' | 'Strict';
export type SecurityProfileType = 'RuntimeDefault' | 'Unconfined' | 'Localhost';

export interface ContainerMetadata {
  name: string;
  attempt: number;
}

export interface ImageSpec {
  image: string;
  annotations?: Record<string, string>;
  userSpecifiedImage?: string;
  runtimeHandler?: string;
  imageRef?: string;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface IdMapping {
  hostId: number;
  containerId: number;
  length: number;
}

/** A pod's user namespace (CRI UserNamespace): POD = its own with these mappings, NODE = the host's. */
export interface UserNamespaceOption {
  mode: NamespaceMode;
  uids: IdMapping[];
  gids: IdMapping[];
}

/** The uid and gid mappings of a user namespace (container id -> host id ranges). */
export interface IdMappings {
  uids: IdMapping[];
  gids: IdMapping[];
}

export interface ContainerMount {
  containerPath: string;
  /** Absolute host path; for an image volume, the caller resolves the image to a host path first. */
  hostPath: string;
  readonly?: boolean;
  selinuxRelabel?: boolean;
  propagation?: MountPropagation;
  recursiveReadOnly?: boolean;
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  /** CRI image volume (mount of an image's rootfs); the builder rejects it unless hostPath was resolved. */
  image?: ImageSpec;
  imageSubPath?: string;
}

export interface ContainerDevice {
  containerPath: string;
  hostPath: string;
  /** cgroup permissions, a combination of r, w, m; empty means rwm. */
  permissions: string;
}

export interface CdiDevice {
  name: string;
}

export interface SecurityProfile {
  profileType: SecurityProfileType;
  /** Localhost: the profile's path (seccomp) or name (apparmor), optionally prefixed "localhost/". */
  localhostRef?: string;
}

export interface Capability {
  addCapabilities?: string[];
  dropCapabilities?: string[];
  addAmbientCapabilities?: string[];
}

export interface SelinuxOption {
  user?: string;
  role?: string;
  type?: string;
  level?: string;
}

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  /** Container id whose pid namespace to join when pid is TARGET. */
  targetId?: string;
  /** The container's view of the pod's user namespace (the kubelet repeats the pod's). */
  userns?: UserNamespaceOption;
}

export interface LinuxContainerSecurityContext {
  capabilities?: Capability;
  privileged?: boolean;
  namespaceOptions?: NamespaceOption;
  selinuxOptions?: SelinuxOption;
  runAsUser?: number;
  runAsGroup?: number;
  runAsUsername?: string;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  supplementalGroupsPolicy?: SupplementalGroupsPolicy;
  noNewPrivs?: boolean;
  /** Empty or unset means the defaults (as containerd: proto3 cannot tell [] from unset). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Unset means unconfined (CRI's default when the kubelet sends nothing). */
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
}

export interface HugepageLimit {
  /** e.g. "2MB", "1GB" */
  pageSize: string;
  limit: number;
}

/** CRI LinuxContainerResources; 0 / '' means "not set". */
export interface LinuxContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  oomScoreAdj?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  hugepageLimits?: HugepageLimit[];
  /** cgroup v2 only: file name -> value. */
  unified?: Record<string, string>;
  memorySwapLimitInBytes?: number;
}

export interface LinuxContainerConfig {
  resources?: LinuxContainerResources;
  securityContext?: LinuxContainerSecurityContext;
}

export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: ImageSpec;
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: KeyValue[];
  mounts?: ContainerMount[];
  devices?: ContainerDevice[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: LinuxContainerConfig;
  cdiDevices?: CdiDevice[];
  /** CRI Signal enum name, e.g. SIGTERM; empty = image's StopSignal or SIGTERM. */
  stopSignal?: string;
}

/**
 * The process defaults of an OCI image config (its `config` object). Field names are the image
 * JSON's, so a parsed image config can be passed as is.
 */
export interface ImageProcessConfig {
  User?: string | null;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string | null;
  StopSignal?: string | null;
}

/** What the builder needs to know about the pod sandbox the container joins. */
export interface SandboxFacts {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  /** Network namespace path to join; undefined when the pod uses the host network. */
  netnsPath?: string;
  /** PID of the infra (pause) process: its ipc/uts/pid namespaces are joined through /proc/<pid>/ns. */
  infraPid: number;
  /** The pod's namespace modes (POD or NODE for network/ipc, POD/CONTAINER/NODE for pid). */
  namespaceOptions: Required<Pick<NamespaceOption, 'network' | 'pid' | 'ipc'>>;
  /** cgroupfs: /kubepods/...; systemd: a slice name (kubepods-pod<uid>.slice). Empty = the daemon's default. */
  cgroupParent: string;
  hostname: string;
  /** Host paths of the pod's files, bind-mounted into every container; undefined = not provided. */
  hostsPath?: string;
  resolvConfPath?: string;
  hostnamePath?: string;
  /** The pod's /dev/shm (a tmpfs the sandbox mounted); host /dev/shm is used for host-IPC pods. */
  shmPath?: string;
  /** Privileged containers are only allowed in a privileged pod. */
  privileged: boolean;
  /** The pod's own user namespace (joined through /proc/<infraPid>/ns/user); undefined = the host's. */
  userns?: IdMappings;
  /** SELinux label of the pod's processes (user:role:type:level) and mounts, when SELinux is on. */
  selinuxProcessLabel?: string;
  selinuxMountLabel?: string;
}

/** What the builder needs to know about the node (read once by the daemon, passed in). */
export interface HostFacts {
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** /sys/fs/cgroup is cgroup v2 (unified resources and a cgroup namespace apply). */
  cgroupV2: boolean;
  /** /proc/self/oom_score_adj of the daemon: without CAP_SYS_RESOURCE nothing may go lower. */
  daemonOomScoreAdj: number;
  /** The daemon's RLIMIT_NOFILE hard limit: runc cannot raise a container's above it. */
  nofileHardLimit: number;
  apparmorEnabled: boolean;
  /** Name of the loaded profile used for RuntimeDefault when AppArmor is on (none if undefined). */
  apparmorDefaultProfile?: string;
  selinuxEnabled: boolean;
  /** Kernel (mount_setattr, 5.12+) and runc support recursive read-only bind mounts (`rro`). */
  supportsRecursiveReadOnly: boolean;
  /**
   * The hugetlb cgroup controller is usable (v1: a mounted hierarchy; v2: in cgroup.controllers).
   * false: hugepage limits are dropped (runc fails on them). Undefined = assumed usable.
   */
  hugetlb?: boolean;
  /** /proc/sys/kernel/cap_last_cap; privileged containers get every capability up to it. */
  capLastCap?: number;
  /**
   * The daemon's own effective capabilities (CAP_ names). runc cannot grant what it does not hold
   * (here root lacks CAP_SYS_RESOURCE), so privileged/ALL are cut to these and an explicit add of
   * a missing one is refused. Undefined = every capability up to capLastCap.
   */
  daemonCapabilities?: string[];
  /** Seccomp architectures of the node; default from the daemon's process.arch. */
  arch?: string;
  /** The node's kernel release (uname -r) for Localhost seccomp rules' minKernel; default os.release(). */
  kernelRelease?: string;
}

/** A host device node as stat(2) saw it (read by device-info.ts; the builder stays pure). */
export interface HostDevice {
  /** Path on the host. */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits of the node (mode & 0o7777). */
  fileMode: number;
  uid: number;
  gid: number;
}
