// The daemon's gRPC server on a unix socket in a temp dir with one CRI service (methods without a
// handler answer UNIMPLEMENTED), and a grpc-js client for it: for unit tests of what the gRPC
// layer does around handlers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCri, type CriClient } from '../../src/cri/grpc/client.js';
import type { HandlerContext, RpcHandlers } from '../../src/cri/grpc/handler.js';
import type { CriServiceName } from '../../src/cri/grpc/proto.js';
import { addCriService, newGrpcServer } from '../../src/cri/grpc/server.js';
import { silentLogger } from '../../src/lib/log.js';

export interface CriTestServer {
  client: CriClient;
  socket: string;
  close(): Promise<void>;
}

export async function startCriTestServer(service: CriServiceName, impl: RpcHandlers, ctx: HandlerContext = { log: silentLogger() }): Promise<CriTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'nexcage-grpc-'));
  const server = newGrpcServer(ctx.log);
  addCriService(server, ctx, service, impl);
  const socket = join(dir, 's.sock');
  await server.listen(socket);
  const client = connectCri(socket);
  return {
    client,
    socket,
    close: async () => {
      client.close();
      await server.shutdown(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
