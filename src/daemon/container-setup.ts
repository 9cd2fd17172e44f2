// Builds the container service on top of the pod sandbox service (same OCI runtimes, conmon
// monitor and exit watcher) and the image service, registers it as the sandboxes' container
// hooks (StopPodSandbox/RemovePodSandbox stop/remove the pod's containers), then recovers the
// containers. The daemon calls this after the sandboxes recovered and before binding the socket.
import type { Config } from './config-schema.js';
import type { ImageManager } from '../images/image-manager.js';
import type { Logger } from '../lib/log.js';
import type { CgroupDriver } from '../runtime/engine/cgroup-driver.js';
import { ContainerEventBus } from '../runtime/container/container-events.js';
import { ContainerManager } from '../runtime/container/container-manager.js';
import type { RuntimeHandlers } from '../runtime/engine/runtime-handlers.js';
import { probeHostFacts } from '../runtime/oci-spec/host-facts.js';
import type { SandboxService } from './sandbox-setup.js';

export interface ContainerService {
  manager: ContainerManager;
  events: ContainerEventBus;
  close(): void;
}

export async function createContainerService(
  config: Config,
  handlers: RuntimeHandlers,
  cgroupDriver: CgroupDriver,
  sandboxes: SandboxService,
  images: ImageManager,
  log: Logger,
): Promise<ContainerService> {
  const clog = log.child({ component: 'containers' });
  let mountOptions: string[] | undefined;
  try {
    mountOptions = ((await sandboxes.runtimeFor('').features()) as { mountOptions?: string[] }).mountOptions;
  } catch {
    mountOptions = undefined;
  }
  const host = await probeHostFacts({ cgroupDriver, ...(mountOptions ? { runtimeMountOptions: mountOptions } : {}) });
  const events = new ContainerEventBus();
  const manager = new ContainerManager({
    rootDir: config.rootDir,
    stateDir: config.stateDir,
    handlers,
    runtimeFor: sandboxes.runtimeFor,
    monitor: sandboxes.monitor,
    exits: sandboxes.exits,
    sandboxes: sandboxes.manager,
    images,
    host,
    cgroupDriver,
    events,
    log: clog,
  });
  await manager.recover();
  sandboxes.manager.setContainerHooks({
    stopAll: (id, timeoutSec) => manager.stopAll(id, timeoutSec),
    removeAll: (id) => manager.removeAll(id),
    sandboxEvent: (sandbox, type) => manager.publishSandbox(sandbox, type),
  });
  return { manager, events, close: () => manager.close() };
}
