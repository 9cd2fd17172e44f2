// What the container service is built from: the engine parts it shares with the pod sandboxes
// (OCI runtimes, monitor, exit files, host facts and cgroup layout probed once by the daemon), the
// sandboxes, the image lookups, the rootfs mounts and idmapped mounts. Each is a seam the unit
// tests fake.
import { join } from 'node:path';
import type { ImageManager } from '../../images/image-manager.js';
import type { Logger } from '../../lib/log.js';
import type { CgroupDriver } from '../engine/cgroup-driver.js';
import type { CriuProbe } from '../engine/criu.js';
import type { ExitFiles } from '../engine/exit-watcher.js';
import type { IdmapMounts } from '../engine/idmap-mounts.js';
import type { Monitor } from '../engine/monitor.js';
import type { RuntimeHandlers } from '../engine/runtime-handlers.js';
import type { RuntimeFor } from '../engine/runtime-sweep.js';
import type { SandboxManager } from '../sandbox/sandbox-manager.js';
import type { CgroupLayout } from '../stats/cgroup-paths.js';
import type { HostFacts } from './container-config.js';
import type { ContainerEventBus } from './container-events.js';
import { isMounted, mountImageReadOnly, mountRootfs, unmountAll, unmountRootfs } from './container-rootfs.js';

/** The image service calls containers need. */
export type ContainerImages = Pick<ImageManager, 'resolve' | 'lease' | 'release' | 'layerDirs' | 'leases'>;

/** Overlay rootfs and image-volume mounts (container-rootfs.ts). */
export interface RootfsMounts {
  /** `owner`: who owns the writable layer's root (the host ids of the pod's root in a user-namespaced pod). */
  mountRootfs(layers: readonly string[], recordDir: string, target: string, owner?: { uid: number; gid: number }): Promise<{ upperDir: string; workDir: string }>;
  mountImageReadOnly(layers: readonly string[], workDir: string, target: string): Promise<void>;
  unmountRootfs(target: string): Promise<void>;
  unmountAll(dir: string): Promise<void>;
  isMounted(target: string): Promise<boolean>;
}

export const hostRootfsMounts: RootfsMounts = { mountRootfs, mountImageReadOnly, unmountRootfs, unmountAll, isMounted };

export interface ContainerManagerOptions {
  rootDir: string;
  stateDir: string;
  handlers: Pick<RuntimeHandlers, 'list'>;
  runtimeFor: RuntimeFor;
  monitor: Monitor;
  exits: ExitFiles;
  sandboxes: Pick<SandboxManager, 'get' | 'find'>;
  images: ContainerImages;
  host: HostFacts;
  cgroupDriver: CgroupDriver;
  /** The host's cgroup hierarchy (OOM kill counters); undefined when it could not be read. */
  cgroupLayout: CgroupLayout | undefined;
  events: Pick<ContainerEventBus, 'publish'>;
  log: Logger;
  /** pids.max for every container; 0 = none. */
  pidsLimit?: number;
  /** How long Stop waits for the exit after SIGKILL before giving up. */
  killWaitMs?: number;
  /** Default: real overlay and bind mounts. */
  mounts?: RootfsMounts;
  /** Idmapped mounts for containers of pods with their own user namespace; default: the native helper. */
  idmap?: IdmapMounts;
  /** Background retry of cleanup a failed CreateContainer left (default 5 s doubling to 5 min). */
  cleanupRetry?: { initialMs: number; maxMs: number };
  /** How long a container built for a caller that went away waits for its retry (default 2 min). */
  handoffHoldMs?: number;
  /** How often running containers' exit files are checked besides fs.watch (default 5 s). */
  exitSweepMs?: number;
  /** Checkpoint/restore: the node's CRIU and how to pull a checkpoint's image; absent = refused. */
  checkpoint?: { criu: Pick<CriuProbe, 'support'>; pull(ref: string): Promise<void> };
}

export function containerBundlesDir(o: Pick<ContainerManagerOptions, 'stateDir'>): string {
  return join(o.stateDir, 'containers');
}
