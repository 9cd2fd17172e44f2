// `nexcage serve`: the daemon. Start-up order: config -> dirs -> handlers -> services -> socket
// (claimed, bound, mode 0660) -> side HTTP endpoint -> READY=1 to systemd. SIGTERM/SIGINT drain
// and remove the socket; SIGHUP reloads what can be reloaded (reload.ts).
import { chmod, mkdir, unlink } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { release } from 'node:os';
import { createCriServer, bindUnix, shutdown, SERVICE_NAMES } from '../cri/grpc/server.js';
import type { Services } from '../cri/services.js';
import { errorMessage } from '../lib/errors.js';
import { createImageService } from './images-setup.js';
import type { Logger } from '../lib/log.js';
import { buildInfo, collectProcessMetrics, registry } from '../lib/metrics.js';
import { chooseCgroupDriver, probeCgroupHost } from '../runtime/engine/cgroup-driver.js';
import { RuntimeHandlers } from '../runtime/engine/runtime-handlers.js';
import { CriuProbe } from '../runtime/engine/criu.js';
import { RuntimeInfo } from '../runtime/engine/runtime-info.js';
import { createContainerService } from './container-setup.js';
import { createEngine } from './engine-setup.js';
import { createSandboxService } from './sandbox-setup.js';
import { createStreamingService } from './streaming-setup.js';
import { createStatsService } from '../runtime/stats/create.js';
import { registerContainerMetrics } from '../runtime/stats/prometheus.js';
import { startTracing, stopTracing } from '../lib/tracing.js';
import { nexcageVersion } from '../lib/version.js';
import type { Config } from './config-schema.js';
import { startDaemonHttp } from './http-server.js';
import { startMetricsSocket } from './metrics-socket.js';
import { applyReload, type ReloadListener } from './reload.js';
import { sdNotifier, startWatchdog } from './sd-notify.js';
import { claimSocketPath } from './socket-guard.js';
import { activityOf } from '../lib/page-reclaim.js';
import { startIdleGc, startPageReclaim } from './page-reclaim-setup.js';
import { applySocketGroup } from './socket-group.js';

export interface ServeOptions {
  /** Re-reads the configuration from the sources the daemon started with (SIGHUP). */
  reload?: () => Promise<Config>;
  /** Told about reloaded settings (e.g. the image service for registry.*). */
  reloadListeners?: ReloadListener[];
}

export async function serve(config: Config, log: Logger, options: ServeOptions = {}): Promise<void> {
  installCrashGuards(log);
  collectProcessMetrics();
  buildInfo.set({ version: nexcageVersion() }, 1);
  if (config.tracing.endpoint !== '') {
    startTracing({ endpoint: config.tracing.endpoint, serviceVersion: nexcageVersion(), log });
    log.info({ endpoint: config.tracing.endpoint }, 'tracing CRI calls (OTLP/HTTP)');
  }

  await mkdir(config.rootDir, { recursive: true, mode: 0o711 });
  await mkdir(config.stateDir, { recursive: true, mode: 0o711 });

  const handlers = await RuntimeHandlers.resolve(
    Object.entries(config.runtimes).map(([name, h]) => ({ name, ...h })),
    config.defaultRuntime,
    release(),
    log,
  );
  const cgroupDriver = chooseCgroupDriver(config.cgroupDriver, probeCgroupHost());
  const criu = new CriuProbe({ path: config.criuPath });
  const runtimeInfo = new RuntimeInfo({
    checkpointSupport: () => criu.support(),
    handlers,
    cgroupDriver,
    cniConfDirs: config.cni.confDirs,
    cniBinDirs: config.cni.binDirs,
    cniDefaultNetwork: config.cni.defaultNetwork,
    effectiveConfig: config,
  });
  // Image store recovered (temp snapshots dropped, orphans collected) before the socket is bound.
  const images = await createImageService(config, log);
  const stats = await createStatsService({ rootDir: config.rootDir, cgroupDriver, fsUsageRefreshSeconds: config.stats.fsUsageRefreshSeconds, log });
  // Runtimes, monitor, exit watcher and host facts: probed once, shared by pods and containers.
  const engine = await createEngine(config, handlers, cgroupDriver, log);
  // Pod sandboxes recovered (READY/NOTREADY, orphans cleaned) before the socket is bound.
  const sandboxes = await createSandboxService(config, engine, log, images.manager);
  stats.setSandboxSource(sandboxes.manager);
  // Containers recovered (running keep their pid, exits from conmon's exit files) before the socket is bound.
  const containers = await createContainerService(config, engine, sandboxes, images.manager, log, criu);
  stats.setContainerSource(containers.manager);
  const services: Services = {
    runtimeInfo,
    stats,
    images: images.manager,
    sandboxes: sandboxes.manager,
    containers: containers.manager,
    containerEvents: containers.events,
    // Exec/Attach/PortForward URLs point at this server (real containers and pods behind it).
    streaming: createStreamingService(config, containers.manager, sandboxes.manager, log),
  };
  stats.start();
  if (config.stats.containerMetrics) registerContainerMetrics(stats, registry);

  await claimSocketPath(config.socket);
  const reclaimer = startPageReclaim(config.memoryReclaimIdleSeconds, log);
  const idleGc = startIdleGc(config.memoryCollectIdleSeconds, log);
  const { server, health } = createCriServer(log, services, activityOf([reclaimer, idleGc]));
  await bindUnix(server, config.socket);
  await chmod(config.socket, 0o660);
  await applySocketGroup(config.socket, config.socketGroup);

  const readiness = async (): Promise<{ ready: boolean; reason: string }> => {
    const st = await runtimeInfo.status(false);
    const rt = st.conditions.find((c) => c.type === 'RuntimeReady');
    return { ready: rt?.status === true, reason: rt ? `${rt.reason}: ${rt.message}` : 'no RuntimeReady condition' };
  };
  let http: HttpServer | undefined;
  if (config.metricsAddress !== '') {
    http = await startDaemonHttp(config.metricsAddress, readiness, log);
  }
  const metricsSocket = config.metricsSocket !== '' ? await startMetricsSocket(config.metricsSocket, config.socketGroup, readiness, log) : undefined;
  const httpAddress = http ? formatAddress(http.address() as AddressInfo) : '';
  const notifier = sdNotifier(log);
  let stopWatchdog = (): void => {};
  const onHangup = (): void => void reload(config, log, options, notifier);
  let stopping = false;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    stopWatchdog();
    reclaimer?.stop();
    idleGc?.stop();
    process.off('SIGHUP', onHangup);
    void notifier.notify({ STOPPING: '1', STATUS: 'shutting down' });
    for (const name of ['', ...SERVICE_NAMES]) health.setStatus(name, 'NOT_SERVING');
    void (async () => {
      await shutdown(server, config.shutdownTimeoutSeconds * 1000);
      for (const h of [http, metricsSocket]) {
        if (!h) continue;
        await new Promise<void>((r) => {
          h.close(() => r());
          h.closeAllConnections();
        });
      }
      await stats.stop();
      await services.streaming?.stop();
      containers.close();
      await sandboxes.close();
      engine.close();
      await stopTracing();
      images.close();
      await unlink(config.socket).catch(() => undefined);
      log.info('stopped');
      stopped();
    })();
  };
  // Ours before anyone hears we serve: a SIGTERM right after "serving" is a clean shutdown too.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  log.info({ socket: config.socket, metricsAddress: httpAddress, cgroupDriver, version: nexcageVersion() }, 'nexcage serving');
  // Recovery ran before the socket was bound, so serving means ready for systemd too.
  await notifier.notify({ READY: '1', STATUS: `serving on ${config.socket}` });
  if (!stopping) {
    stopWatchdog = startWatchdog(notifier, readiness, log);
    process.on('SIGHUP', onHangup);
  }
  await done;
}

/** SIGHUP: re-read the config; a bad config is logged and the running one kept. */
async function reload(live: Config, log: Logger, options: ServeOptions, notifier: ReturnType<typeof sdNotifier>): Promise<void> {
  if (!options.reload) {
    log.warn('SIGHUP: this daemon was started without a configuration source to reload; nothing changed');
    return;
  }
  await notifier.notify({ RELOADING: '1', STATUS: 'reloading configuration' });
  try {
    const next = await options.reload();
    const { applied, needRestart } = applyReload(live, next, log, options.reloadListeners);
    log.info({ applied, needRestart, logLevel: live.logLevel }, 'configuration reloaded');
    if (needRestart.length > 0) log.warn({ keys: needRestart }, 'changed keys take effect only after a restart');
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'configuration reload failed; keeping the running configuration');
  } finally {
    await notifier.notify({ READY: '1', STATUS: `serving on ${live.socket}` });
  }
}

function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** An unexpected error in one call must not take down the node's runtime: log it and go on. */
function installCrashGuards(log: Logger): void {
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (daemon keeps serving)'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection (daemon keeps serving)'));
}
