// The gRPC server: RuntimeService, ImageService and grpc.health.v1 on one unix socket.
// Every RPC of the proto gets a handler; the ones not built yet answer UNIMPLEMENTED.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../lib/log.js';
import { unimplemented, type HandlerContext } from './handler.js';
import { HealthService } from './health.js';
import { passEncoded } from './encoded-list.js';
import { imageServiceHandlers } from '../image-service.js';
import { loadCri, MAX_MESSAGE_BYTES } from './proto.js';
import { runtimeServiceHandlers } from '../runtime-service.js';
import type { Services } from '../services.js';

export const SERVICE_NAMES = ['runtime.v1.RuntimeService', 'runtime.v1.ImageService'] as const;

export interface CriServer {
  server: grpc.Server;
  health: HealthService;
}

export function createCriServer(log: Logger, services: Services, activity?: HandlerContext['activity']): CriServer {
  const ctx: HandlerContext = { log, activity };
  const cri = loadCri();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    // Nothing reads channelz here; it costs every call timestamps and tracker closures (garbage).
    'grpc.enable_channelz': 0,
  });
  const add = (name: string, definition: grpc.ServiceDefinition, built: grpc.UntypedServiceImplementation): void => {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [method, def] of Object.entries(definition)) {
      impl[method] = built[method] ?? unimplemented(ctx, name, method, def.responseStream);
    }
    server.addService(passEncoded(definition), impl);
  };
  add('runtime.v1.RuntimeService', cri.runtime.v1.RuntimeService.service, runtimeServiceHandlers(ctx, services));
  add('runtime.v1.ImageService', cri.runtime.v1.ImageService.service, imageServiceHandlers(ctx, services));
  const health = new HealthService({ '': 'SERVING', 'runtime.v1.RuntimeService': 'SERVING', 'runtime.v1.ImageService': 'SERVING' });
  health.addToServer(server);
  return { server, health };
}

export function bindUnix(server: grpc.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
}

/** Finish in-flight calls within `timeoutMs`, then cut the rest. */
export function shutdown(server: grpc.Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
