// The domain shape of an application container as the container store keeps it: what was asked
// and decided at create time (ContainerMeta, persisted once, rewritten only by resource updates)
// apart from the live status (ContainerStatusRecord, rewritten on every state change). Both are
// atomic JSON files under <rootDir>/containers/<id>/ so a crash never mixes the two.
import type { ContainerConfig, ContainerMount, IdMappings, LinuxContainerResources } from './container-config.js';
import type { ResolvedUser } from '../oci-spec/user.js';
import type { PendingCleanup, Sandbox } from '../sandbox/sandbox-config.js';

export type ContainerState = 'CREATED' | 'RUNNING' | 'EXITED' | 'UNKNOWN';

export interface ContainerImageRef {
  /** The image as the kubelet asked for it (ContainerConfig.image.image). */
  requested: string;
  /** The image id (config digest). */
  id: string;
  /** A repo digest when the image has one, else the id (CRI image_ref). */
  ref: string;
}

export interface ContainerMeta {
  id: string;
  podSandboxId: string;
  config: ContainerConfig;
  image: ContainerImageRef;
  runtimeHandler: string;
  /** Nanoseconds since the epoch, decimal string. */
  createdAtNs: string;
  /** OCI bundle (config.json, monitor files); under the state dir. */
  bundle: string;
  /** The mounted overlay rootfs (bundle/rootfs). */
  rootfs: string;
  /** The writable layer (overlay upperdir) and its workdir, under the root dir. */
  upperDir: string;
  workDir: string;
  /** Absolute CRI log path ('' = no log). */
  logPath: string;
  /** The OCI linux.cgroupsPath as written to config.json. */
  cgroupsPath: string;
  user: ResolvedUser;
  /** Signal name Stop sends first (CRI stop_signal, image StopSignal or SIGTERM). */
  stopSignal: string;
  /** The CRI mounts (for ContainerStatus.mounts). */
  mounts: ContainerMount[];
  /** Lease holders of the images mounted as CRI image volumes (released on remove). */
  imageVolumeLeases?: string[];
  /** The current resources (create config, then UpdateContainerResources). */
  resources?: LinuxContainerResources;
  /** Created from a checkpoint archive: StartContainer restores it (container-restore.ts). */
  restore?: { archive: string; sourceContainerId: string; checkpointedAt: string };
  /** The pod's own user namespace: the rootfs and bind sources are idmapped clones with these mappings. */
  userns?: IdMappings;
}

/**
 * The exit time to record: the exit file's mtime comes from the kernel's coarse clock (a tick, up
 * to 4 ms, behind), so a process that exits at once may look finished before it was started.
 */
export function finishedAtNs(exitFileNs: bigint, startedAtNs: string | undefined): string {
  const started = startedAtNs === undefined ? 0n : BigInt(startedAtNs);
  return (exitFileNs > started ? exitFileNs : started).toString();
}

export interface ContainerStatusRecord {
  state: ContainerState;
  /** Host pid of the container's init; 0 when not running. */
  pid: number;
  monitorPid: number;
  startedAtNs?: string;
  finishedAtNs?: string;
  exitCode?: number;
  /** The runtime's record (and cgroup) was deleted when the exit was recorded. */
  runtimeDeleted?: boolean;
  /** Completed, Error, OOMKilled, StartError, ... */
  reason?: string;
  message?: string;
  /** Set while state is UNKNOWN after a CreateContainer whose undo failed: the cleanup still owed. */
  cleanup?: PendingCleanup;
}

export interface Container extends ContainerMeta {
  status: ContainerStatusRecord;
}

export interface ContainerFilter {
  /** Full id or prefix. */
  id?: string;
  state?: ContainerState;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export type ContainerEventType = 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED';

export interface ContainerEvent {
  /** The container's id (or the pod sandbox's, for sandbox events). */
  id: string;
  type: ContainerEventType;
  podSandboxId: string;
  createdAtNs: string;
  /** The pod's containers as they were when the event happened (the subject included, even when deleted). */
  containers: Container[];
  /** The pod as it was then (kept for DELETED events, when the pod is gone). */
  sandbox?: Sandbox;
}
