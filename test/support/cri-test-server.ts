// A grpc-js server on a unix socket in a temp dir with one CRI service, and a client for it: for
// unit tests of what the gRPC layer does around handlers.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCri, type CriClient } from '../../src/cri/grpc/client.js';

export interface CriTestServer {
  client: CriClient;
  close(): void;
}

export async function startCriTestServer(definition: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): Promise<CriTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'nexcage-grpc-'));
  const server = new grpc.Server();
  server.addService(definition, impl);
  const socket = join(dir, 's.sock');
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  const client = connectCri(socket);
  return {
    client,
    close: () => {
      client.close();
      server.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
