// Gives the streaming server (src/runtime/streaming) its backends for real containers and pods:
// exec through the OCI runtime's `exec` into a running container, attach on its conmon's attach
// socket, port-forward into the pod's pinned network namespace. The server, its protocols (SPDY,
// WebSocket) and backends are loaded and started on the first Exec/Attach/PortForward: most nodes
// rarely stream, and an idle daemon should not carry that code. Stopped on shutdown.
import { join } from 'node:path';
import type { Config } from './config-schema.js';
import type { Streaming } from '../cri/services.js';
import { FailedPreconditionError, UnavailableError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { ContainerManager } from '../runtime/container/container-manager.js';
import type { SandboxManager } from '../runtime/sandbox/sandbox-manager.js';
import type { SandboxNetworkLocator } from '../runtime/streaming/netns-port-forward.js';
import type { StreamingService } from '../runtime/streaming/streaming-service.js';

/** The pods' side of port-forward: a READY pod's netns (null for host-network pods). */
export function sandboxNetworkLocator(sandboxes: SandboxManager): SandboxNetworkLocator {
  return {
    netnsPath: async (id) => {
      const s = sandboxes.get(id);
      if (s.state !== 'READY') throw new FailedPreconditionError(`pod sandbox "${s.id}" is not ready; cannot port-forward into it`);
      if (s.hostNetwork) return null;
      if (!s.netnsPath) throw new FailedPreconditionError(`pod sandbox "${s.id}" has no network namespace`);
      return s.netnsPath;
    },
  };
}

async function startStreamingService(config: Config, containers: ContainerManager, sandboxes: SandboxManager, log: Logger): Promise<StreamingService> {
  const [{ ConmonAttachBackend }, { NetnsPortForwarder }, { RuncExecBackend }, { StreamingService }] = await Promise.all([
    import('../runtime/streaming/conmon-attach.js'),
    import('../runtime/streaming/netns-port-forward.js'),
    import('../runtime/streaming/runc-exec.js'),
    import('../runtime/streaming/streaming-service.js'),
  ]);
  const slog = log.child({ component: 'streaming' });
  const svc = new StreamingService(
    {
      address: config.streaming.address,
      port: config.streaming.port,
      tlsCert: config.streaming.tlsCert,
      tlsKey: config.streaming.tlsKey,
      idleTimeoutMs: config.streaming.idleTimeoutSeconds * 1000,
    },
    {
      exec: new RuncExecBackend(containers, { workDir: join(config.stateDir, 'exec'), log: slog }),
      attach: new ConmonAttachBackend(containers, { log: slog }),
      portForward: new NetnsPortForwarder(sandboxNetworkLocator(sandboxes), { log: slog }),
    },
    slog,
  );
  await svc.start();
  return svc;
}

/** The streaming server as the CRI layer sees it, started on first use (all three backends exist). */
export function createStreamingService(config: Config, containers: ContainerManager, sandboxes: SandboxManager, log: Logger): Streaming {
  let started: Promise<StreamingService> | undefined;
  let stopped = false;
  const server = (): Promise<StreamingService> => {
    if (stopped) return Promise.reject(new UnavailableError('the daemon is shutting down'));
    // A failed start (e.g. the configured port is taken) is retried by the next call.
    started ??= startStreamingService(config, containers, sandboxes, log).catch((err: unknown) => {
      started = undefined;
      throw err;
    });
    return started;
  };
  return {
    supports: () => true,
    exec: async (r) => (await server()).exec(r),
    attach: async (r) => (await server()).attach(r),
    portForward: async (r) => (await server()).portForward(r),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await (await started?.catch(() => undefined))?.stop();
    },
  };
}
