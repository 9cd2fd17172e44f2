// The domain services the gRPC layer calls into.
import type { ImageManager } from '../images/image-manager.js';
import type { ContainerEventBus } from '../runtime/container/container-events.js';
import type { ContainerManager } from '../runtime/container/container-manager.js';
import type { RuntimeInfo } from '../runtime/engine/runtime-info.js';
import type { SandboxManager } from '../runtime/sandbox/sandbox-manager.js';
import type { StatsService } from '../runtime/stats/stats-service.js';
import type { StreamingService } from '../runtime/streaming/streaming-service.js';

/** What the CRI layer uses of the streaming server (the daemon starts it on first use). */
export type Streaming = Pick<StreamingService, 'supports' | 'exec' | 'attach' | 'portForward' | 'stop'>;

export interface Services {
  runtimeInfo: RuntimeInfo;
  /** Pod sandboxes: run/stop/remove/status/list (src/runtime/sandbox/sandbox-manager.ts). */
  sandboxes: SandboxManager;
  /** Containers: create/start/stop/remove/status/list/update/reopen log/exec sync (src/runtime/container/container-manager.ts). */
  containers: ContainerManager;
  /** Container lifecycle events for GetContainerEvents. */
  containerEvents: ContainerEventBus;
  /** Images: pull, list, status, remove, fs usage (src/images). */
  images: ImageManager;
  /** Container/pod stats and CRI metrics; its RPCs are wired as far as its sources exist. */
  stats?: StatsService;
  /** Exec/Attach/PortForward URLs; each RPC is wired once its backend exists (src/runtime/streaming). */
  streaming?: Streaming;
}
