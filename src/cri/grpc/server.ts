// The gRPC server: RuntimeService, ImageService and grpc.health.v1 on one unix socket.
// Every RPC of the proto gets a handler; the ones not built yet answer UNIMPLEMENTED.
import { GrpcServer } from '../../lib/grpc/server.js';
import type { Logger } from '../../lib/log.js';
import { encodeAnswer } from './encoded-list.js';
import { unimplemented, type HandlerContext, type RpcHandlers } from './handler.js';
import { HealthService } from './health.js';
import { imageServiceHandlers } from '../image-service.js';
import { criServices, MAX_MESSAGE_BYTES, type CriServiceName } from './proto.js';
import { runtimeServiceHandlers } from '../runtime-service.js';
import type { Services } from '../services.js';

export const SERVICE_NAMES = ['runtime.v1.RuntimeService', 'runtime.v1.ImageService'] as const;

export interface CriServer {
  server: GrpcServer;
  health: HealthService;
}

export function newGrpcServer(log: Logger): GrpcServer {
  return new GrpcServer({
    maxMessageBytes: MAX_MESSAGE_BYTES,
    onProtocolError: (err) => log.warn({ error: err.message, code: err.code }, 'a CRI client broke the HTTP/2 protocol; its connection was closed'),
    onStreamError: (err, streamId) => log.warn({ error: err.message, code: err.code, streamId }, 'a CRI client broke the HTTP/2 protocol on a stream; the stream was reset'),
  });
}

/** Registers every method of `service`: the built ones from `built`, the rest UNIMPLEMENTED. */
export function addCriService(server: GrpcServer, ctx: HandlerContext, service: CriServiceName, built: RpcHandlers): void {
  for (const [method, def] of Object.entries(criServices()[service])) {
    const rpc = built[method] ?? unimplemented(ctx, service, method, def.responseStream);
    server.add(def.path, {
      responseStream: def.responseStream,
      decode: def.requestDeserialize,
      encode: encodeAnswer(def.responseSerialize),
      handle: rpc.handle,
    });
  }
}

export function createCriServer(log: Logger, services: Services, activity?: HandlerContext['activity']): CriServer {
  const ctx: HandlerContext = { log, activity };
  const server = newGrpcServer(log);
  addCriService(server, ctx, 'runtime.v1.RuntimeService', runtimeServiceHandlers(ctx, services));
  addCriService(server, ctx, 'runtime.v1.ImageService', imageServiceHandlers(ctx, services));
  const health = new HealthService({ '': 'SERVING', 'runtime.v1.RuntimeService': 'SERVING', 'runtime.v1.ImageService': 'SERVING' });
  health.addToServer(server);
  return { server, health };
}

export function bindUnix(server: GrpcServer, socketPath: string): Promise<void> {
  return server.listen(socketPath);
}

/** Finish in-flight calls within `timeoutMs`, then cut the rest. */
export function shutdown(server: GrpcServer, timeoutMs: number): Promise<void> {
  return server.shutdown(timeoutMs);
}
