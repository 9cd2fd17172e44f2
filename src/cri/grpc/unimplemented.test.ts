import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriTestServer, type CriTestServer } from '../../../test/support/cri-test-server.js';
import { call, type CriClient } from './client.js';

// A server where every RuntimeService RPC is unbuilt: what server.ts registers for an RPC without
// a handler (addCriService). Both unary and server-streaming RPCs must refuse with UNIMPLEMENTED.
describe('unimplemented RPCs', () => {
  let server: CriTestServer;
  let client: CriClient;
  beforeAll(async () => {
    server = await startCriTestServer('runtime.v1.RuntimeService', {});
    client = server.client;
  });
  afterAll(() => server.close());

  it('refuses a unary RPC naming it', async () => {
    const err = (await call(client.runtime, 'Version', {}).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toBe('runtime.v1.RuntimeService/Version is not implemented by nexcage yet');
  });

  it('refuses a server-streaming RPC naming it', async () => {
    const stream = client.runtime.GetContainerEvents({});
    const err = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain('RuntimeService/GetContainerEvents');
  });
});
