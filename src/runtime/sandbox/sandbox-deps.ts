// What the pod sandbox service is built from: the engine parts it shares with containers (OCI
// runtimes, monitor, exit files, host facts probed once by the daemon), the network seam, the
// netns pins, the infra source, the pod's /dev/shm mounts and idmapped mounts. Each is a seam the
// unit tests fake.
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { HostFacts } from '../container/container-config.js';
import type { ExitFiles } from '../engine/exit-watcher.js';
import type { IdmapMounts } from '../engine/idmap-mounts.js';
import type { Monitor } from '../engine/monitor.js';
import type { RuntimeHandlers } from '../engine/runtime-handlers.js';
import type { RuntimeFor } from '../engine/runtime-sweep.js';
import type { NetnsPinning } from '../network/netns.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import type { CgroupLayout } from '../stats/cgroup-paths.js';
import type { InfraSource } from './infra-source.js';
import { mountShm, unmountShm } from './pod-files.js';

/** The pod's own /dev/shm tmpfs; `owner` = host ids of the pod's root (pods with their own user namespace). */
export interface ShmMounts {
  mount(path: string, owner?: { uid: number; gid: number }): Promise<void>;
  unmount(path: string): Promise<void>;
}

export const hostShmMounts: ShmMounts = { mount: (p, owner) => mountShm(p, undefined, owner), unmount: unmountShm };

export interface SandboxManagerOptions {
  rootDir: string;
  stateDir: string;
  handlers: Pick<RuntimeHandlers, 'defaultName' | 'get' | 'list'>;
  /** The OciRuntime of a handler (resolved binary); throws when it cannot run. */
  runtimeFor: RuntimeFor;
  monitor: Monitor;
  exits: ExitFiles;
  network: NetworkPlugin;
  netns: NetnsPinning;
  host: HostFacts;
  /** The infra rootfs and command (built-in, or the configured pause image). */
  infra: InfraSource;
  log: Logger;
  /** How long Stop waits for the killed infra to be reaped. */
  stopTimeoutMs?: number;
  /** The host's cgroup hierarchy (pod-level limits go on the pod cgroup). */
  cgroupLayout: CgroupLayout;
  /** Default: real tmpfs mounts. */
  shm?: ShmMounts;
  /** Idmapped mounts for pods with their own user namespace; default: the native helper. */
  idmap?: IdmapMounts;
  /** Background retry of cleanup a failed RunPodSandbox left (default 5 s doubling to 5 min). */
  cleanupRetry?: { initialMs: number; maxMs: number };
  /** How long a pod built for a caller that went away waits for its retry (default 2 min). */
  handoffHoldMs?: number;
}

export function recordsDir(o: Pick<SandboxManagerOptions, 'rootDir'>): string {
  return join(o.rootDir, 'sandboxes');
}

export function bundlesDir(o: Pick<SandboxManagerOptions, 'stateDir'>): string {
  return join(o.stateDir, 'sandboxes');
}
