// Gives the streaming server (src/runtime/streaming) its backends for real containers and pods:
// exec through the OCI runtime's `exec` into a running container, attach on its conmon's attach
// socket, port-forward into the pod's pinned network namespace. The daemon starts it after the
// container service and stops it on shutdown.
import { join } from 'node:path';
import type { Config } from './config-schema.js';
import { FailedPreconditionError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { ContainerManager } from '../runtime/container/container-manager.js';
import type { SandboxManager } from '../runtime/sandbox/sandbox-manager.js';
import { ConmonAttachBackend } from '../runtime/streaming/conmon-attach.js';
import { NetnsPortForwarder, type SandboxNetworkLocator } from '../runtime/streaming/netns-port-forward.js';
import { RuncExecBackend } from '../runtime/streaming/runc-exec.js';
import { StreamingService } from '../runtime/streaming/streaming-service.js';

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

export async function createStreamingService(config: Config, containers: ContainerManager, sandboxes: SandboxManager, log: Logger): Promise<StreamingService> {
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
