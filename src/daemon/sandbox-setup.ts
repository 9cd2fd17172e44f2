// Builds the pod sandbox service on the shared engine (OCI runtimes, conmon monitor, exit watcher,
// host facts): netns pins, the CNI executor and the infra rootfs, registers the pods gauge's
// source, then recovers state. The daemon calls createSandboxService before binding the socket.
import { join } from 'node:path';
import type { Config } from './config-schema.js';
import type { Logger } from '../lib/log.js';
import { CniNetwork } from '../runtime/network/cni/cni-network.js';
import { BuiltinInfra, ImageInfra, type InfraImages, type InfraSource } from '../runtime/sandbox/infra-source.js';
import { NetnsPins } from '../runtime/network/netns.js';
import { SandboxManager } from '../runtime/sandbox/sandbox-manager.js';
import { setSandboxStateSource } from '../runtime/sandbox/sandbox-metrics.js';
import type { Engine } from './engine-setup.js';

export interface SandboxService {
  manager: SandboxManager;
  network: CniNetwork;
  close(): Promise<void>;
}

export async function createSandboxService(config: Config, engine: Engine, log: Logger, images?: InfraImages): Promise<SandboxService> {
  const slog = log.child({ component: 'sandboxes' });
  const network = new CniNetwork({
    confDirs: config.cni.confDirs,
    binDirs: config.cni.binDirs,
    cacheDir: join(config.rootDir, 'cni', 'results'),
    ...(config.cni.defaultNetwork
      ? { defaultNetwork: { bridge: config.cni.defaultBridge, subnet: config.cni.defaultSubnet, ipamDataDir: join(config.stateDir, 'cni', 'networks') } }
      : {}),
    log: slog,
  });
  // The built-in rootfs is laid out now (cheap, local); a pause image is pulled on first use.
  const infra: InfraSource =
    config.pauseImage !== '' && images
      ? new ImageInfra(config.pauseImage, images, join(config.stateDir, 'infra-image'), slog)
      : new BuiltinInfra(join(config.rootDir, 'infra'));
  if (infra instanceof BuiltinInfra) await infra.get();
  const manager = new SandboxManager({
    rootDir: config.rootDir,
    stateDir: config.stateDir,
    handlers: engine.handlers,
    runtimeFor: engine.runtimeFor,
    monitor: engine.monitor,
    exits: engine.exits,
    network,
    netns: new NetnsPins(join(config.stateDir, 'netns')),
    host: engine.host,
    infra,
    cgroupLayout: engine.cgroupLayout,
    log: slog,
  });
  setSandboxStateSource(() => manager.states());
  await manager.recover();
  return {
    manager,
    network,
    close: async () => {
      await manager.close();
      setSandboxStateSource(undefined);
    },
  };
}
