// What the handler wrapper tells its activity listener, over the daemon's gRPC server and a grpc-js client: calls that do
// work begin and end (answered or failed), the kubelet's recurring reads and streams do not.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriTestServer, type CriTestServer } from '../../../test/support/cri-test-server.js';
import { NotFoundError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { call, type CriClient } from './client.js';
import { serverStream, unary, type HandlerContext, type RpcHandlers } from './handler.js';

describe('handler activity', () => {
  let server: CriTestServer;
  let client: CriClient;
  const seen: string[] = [];
  let inFlightAtRun = -1;
  let inFlight = 0;
  beforeAll(async () => {
    const ctx: HandlerContext = {
      log: silentLogger(),
      activity: {
        begin: () => {
          inFlight++;
          seen.push('begin');
        },
        end: () => {
          inFlight--;
          seen.push('end');
        },
      },
    };
    const impl: RpcHandlers = {
      RunPodSandbox: unary(ctx, 'RunPodSandbox', () => {
        inFlightAtRun = inFlight;
        return { pod_sandbox_id: 'p' };
      }),
      StopPodSandbox: unary(ctx, 'StopPodSandbox', () => {
        throw new NotFoundError('pod sandbox "x" not found');
      }),
      ListContainers: unary(ctx, 'ListContainers', () => ({ containers: [] })),
      ExecSync: unary(ctx, 'ExecSync', () => ({ stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exit_code: 0 })),
      GetContainerEvents: serverStream(ctx, 'GetContainerEvents', async () => undefined),
    };
    server = await startCriTestServer('runtime.v1.RuntimeService', impl, ctx);
    client = server.client;
  });
  afterAll(() => server.close());

  it('counts a call that does work while it runs, answered or failed', async () => {
    seen.length = 0;
    await call(client.runtime, 'RunPodSandbox', { config: {} });
    expect(inFlightAtRun).toBe(1);
    expect(seen).toEqual(['begin', 'end']);
    const err = (await call(client.runtime, 'StopPodSandbox', { pod_sandbox_id: 'x' }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(seen).toEqual(['begin', 'end', 'begin', 'end']);
    expect(inFlight).toBe(0);
  });

  it("leaves out the kubelet's recurring reads: lists, exec probes, the events stream", async () => {
    seen.length = 0;
    await call(client.runtime, 'ListContainers', {});
    await call(client.runtime, 'ExecSync', { container_id: 'c', cmd: ['true'] });
    await new Promise<void>((resolve, reject) => {
      const s = client.runtime.GetContainerEvents({});
      s.on('data', () => undefined);
      s.on('end', resolve);
      s.on('error', reject);
    });
    expect(seen).toEqual([]);
  });
});
