// `nexcage serve`: the daemon. Start-up order: config -> dirs -> handlers -> services -> socket
// (claimed, bound, mode 0660) -> side HTTP endpoint. SIGTERM/SIGINT drain and remove the socket.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { release } from 'node:os';
import { createCriServer, bindUnix, shutdown, SERVICE_NAMES } from '../cri/server.js';
import type { Services } from '../cri/services.js';
import type { Logger } from '../log.js';
import { buildInfo, collectProcessMetrics } from '../metrics.js';
import { chooseCgroupDriver, probeCgroupHost } from '../runtime/cgroup-driver.js';
import { RuntimeHandlers } from '../runtime/handlers.js';
import { RuntimeInfo } from '../runtime/runtime-info.js';
import { nexcageVersion } from '../version.js';
import type { Config } from './config-schema.js';
import { startHttpEndpoint } from './http-server.js';
import { claimSocketPath } from './socket-guard.js';

export async function serve(config: Config, log: Logger): Promise<void> {
  installCrashGuards(log);
  collectProcessMetrics();
  buildInfo.set({ version: nexcageVersion() }, 1);

  await mkdir(config.rootDir, { recursive: true, mode: 0o711 });
  await mkdir(config.stateDir, { recursive: true, mode: 0o711 });

  const handlers = await RuntimeHandlers.resolve(
    Object.entries(config.runtimes).map(([name, h]) => ({ name, ...h })),
    config.defaultRuntime,
    release(),
    log,
  );
  const cgroupDriver = chooseCgroupDriver(config.cgroupDriver, probeCgroupHost());
  const runtimeInfo = new RuntimeInfo({
    handlers,
    cgroupDriver,
    cniConfDirs: config.cni.confDirs,
    cniBinDirs: config.cni.binDirs,
    effectiveConfig: config,
  });
  const services: Services = { runtimeInfo };

  await claimSocketPath(config.socket);
  const { server, health } = createCriServer(log, services);
  await bindUnix(server, config.socket);
  await chmod(config.socket, 0o660);

  let http: HttpServer | undefined;
  if (config.metricsAddress !== '') {
    http = await startHttpEndpoint(
      config.metricsAddress,
      async () => {
        const st = await runtimeInfo.status(false);
        const rt = st.conditions.find((c) => c.type === 'RuntimeReady');
        return { ready: rt?.status === true, reason: rt ? `${rt.reason}: ${rt.message}` : 'no RuntimeReady condition' };
      },
      log,
    );
  }
  const httpAddress = http ? formatAddress(http.address() as AddressInfo) : '';
  log.info({ socket: config.socket, metricsAddress: httpAddress, cgroupDriver, version: nexcageVersion() }, 'nexcage serving');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      for (const name of ['', ...SERVICE_NAMES]) health.setStatus(name, 'NOT_SERVING');
      void (async () => {
        await shutdown(server, config.shutdownTimeoutSeconds * 1000);
        if (http) {
          const h = http;
          await new Promise<void>((r) => {
            h.close(() => r());
            h.closeAllConnections();
          });
        }
        await unlink(config.socket).catch(() => undefined);
        log.info('stopped');
        resolve();
      })();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** An unexpected error in one call must not take down the node's runtime: log it and go on. */
function installCrashGuards(log: Logger): void {
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (daemon keeps serving)'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection (daemon keeps serving)'));
}
