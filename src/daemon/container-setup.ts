// Builds the container service on the shared engine (same OCI runtimes, conmon monitor, exit
// watcher and host facts as the pod sandboxes) and the image service, registers the containers
// gauge's source and the sandboxes' container hooks (StopPodSandbox/RemovePodSandbox stop/remove
// the pod's containers), then recovers the containers. The daemon calls this after the sandboxes
// recovered and before binding the socket.
import type { Config } from './config-schema.js';
import type { ImageManager } from '../images/image-manager.js';
import type { Logger } from '../lib/log.js';
import { ContainerEventBus } from '../runtime/container/container-events.js';
import { ContainerManager } from '../runtime/container/container-manager.js';
import type { CriuProbe } from '../runtime/engine/criu.js';
import { setContainerStateSource } from '../runtime/container/container-metrics.js';
import type { Engine } from './engine-setup.js';
import type { SandboxService } from './sandbox-setup.js';

export interface ContainerService {
  manager: ContainerManager;
  events: ContainerEventBus;
  close(): void;
}

export async function createContainerService(config: Config, engine: Engine, sandboxes: SandboxService, images: ImageManager, log: Logger, criu?: CriuProbe): Promise<ContainerService> {
  const events = new ContainerEventBus();
  const manager = new ContainerManager({
    rootDir: config.rootDir,
    stateDir: config.stateDir,
    handlers: engine.handlers,
    runtimeFor: engine.runtimeFor,
    monitor: engine.monitor,
    exits: engine.exits,
    sandboxes: sandboxes.manager,
    images,
    host: engine.host,
    cgroupDriver: engine.cgroupDriver,
    cgroupLayout: engine.cgroupLayout,
    events,
    log: log.child({ component: 'containers' }),
    ...(criu ? { checkpoint: { criu, pull: (ref: string) => images.pull(ref).then(() => undefined) } } : {}),
  });
  setContainerStateSource(() => manager.stateCounts());
  await manager.recover();
  sandboxes.manager.setContainerHooks({
    stopAll: (id, timeoutSec) => manager.stopAll(id, timeoutSec),
    removeAll: (id) => manager.removeAll(id),
    sandboxEvent: (sandbox, type) => manager.publishSandbox(sandbox, type),
  });
  return {
    manager,
    events,
    close: () => {
      manager.close();
      setContainerStateSource(undefined);
    },
  };
}
