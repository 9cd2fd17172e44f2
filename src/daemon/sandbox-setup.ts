// Builds the pod sandbox service from the config: OCI runtimes per handler, conmon monitor, the
// shared exit watcher, netns pins, the CNI executor and the infra rootfs, then recovers state.
// The daemon calls createSandboxService before binding the socket.
import { join } from 'node:path';
import type { Config } from './config-schema.js';
import { FailedPreconditionError } from '../lib/errors.js';
import { findExecutable } from '../lib/fsutil.js';
import type { Logger } from '../lib/log.js';
import type { CgroupDriver } from '../runtime/engine/cgroup-driver.js';
import { CniNetwork } from '../runtime/network/cni/cni-network.js';
import { ConmonMonitor } from '../runtime/engine/conmon-monitor.js';
import { ExitWatcher } from '../runtime/engine/exit-watcher.js';
import type { RuntimeHandlers } from '../runtime/engine/runtime-handlers.js';
import { BuiltinInfra, ImageInfra, type InfraImages, type InfraSource } from '../runtime/sandbox/infra-source.js';
import { NetnsPins } from '../runtime/network/netns.js';
import type { OciRuntime } from '../runtime/engine/oci-runtime.js';
import { probeHostFacts } from '../runtime/oci-spec/host-facts.js';
import { RuncRuntime } from '../runtime/engine/runc-runtime.js';
import { SandboxManager } from '../runtime/sandbox/sandbox-manager.js';
import { detectCgroupLayout } from '../runtime/stats/cgroup-paths.js';

export interface SandboxService {
  manager: SandboxManager;
  exits: ExitWatcher;
  monitor: ConmonMonitor;
  network: CniNetwork;
  runtimeFor(handler: string): OciRuntime;
  close(): Promise<void>;
}

export async function createSandboxService(
  config: Config,
  handlers: RuntimeHandlers,
  cgroupDriver: CgroupDriver,
  log: Logger,
  images?: InfraImages,
): Promise<SandboxService> {
  const slog = log.child({ component: 'sandboxes' });
  const conmon = await findExecutable('conmon', ['/usr/bin', '/usr/libexec/podman', '/usr/local/bin', '/usr/sbin']);
  if (!conmon) throw new FailedPreconditionError('conmon not found (install Debian package conmon)');
  const runtimes = new Map<string, OciRuntime>();
  const runtimeFor = (name: string): OciRuntime => {
    const h = handlers.get(name);
    const cached = runtimes.get(h.name);
    if (cached) return cached;
    if (!h.binary) throw new FailedPreconditionError(`runtime handler "${h.name}": binary "${h.path}" not found or not executable`);
    const rt = new RuncRuntime({ handler: h.name, binary: h.binary, root: h.root, systemdCgroup: h.systemdCgroup || cgroupDriver === 'systemd' });
    runtimes.set(h.name, rt);
    return rt;
  };
  const defaultHandler = handlers.get('');
  const mountOptions = defaultHandler.binary ? await featuresMountOptions(runtimeFor('')) : undefined;
  const host = await probeHostFacts({ cgroupDriver, ...(mountOptions ? { runtimeMountOptions: mountOptions } : {}) });
  const exits = new ExitWatcher(join(config.stateDir, 'exits'), slog);
  await exits.start();
  const monitor = new ConmonMonitor({ binary: conmon, socketDir: join(config.stateDir, 'attach'), log: slog });
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
    handlers,
    runtimeFor,
    monitor,
    exits,
    network,
    netns: new NetnsPins(join(config.stateDir, 'netns')),
    host,
    infra,
    cgroupLayout: detectCgroupLayout(),
    log: slog,
  });
  await manager.recover();
  return {
    manager,
    exits,
    monitor,
    network,
    runtimeFor,
    close: async () => {
      await manager.close();
      exits.stop();
    },
  };
}

async function featuresMountOptions(rt: OciRuntime): Promise<string[] | undefined> {
  try {
    const f = (await rt.features()) as { mountOptions?: string[] };
    return f.mountOptions;
  } catch {
    return undefined;
  }
}
