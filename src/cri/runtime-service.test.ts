import { describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { criServices } from './grpc/proto.js';
import { runtimeServiceHandlers } from './runtime-service.js';
import type { Services } from './services.js';
import { ContainerEventBus } from '../runtime/container/container-events.js';

// Every RPC of the CRI runtime.v1 RuntimeService (wire-identical to cri-api v0.36.3) has a handler:
// none is left for server.ts to answer UNIMPLEMENTED.
describe('RuntimeService handlers', () => {
  it('cover every RPC of runtime.v1', () => {
    const rpcs = Object.keys(criServices()['runtime.v1.RuntimeService']);
    // Services as the daemon wires them: stats with both sources, streaming with every backend.
    const services = { stats: { servesPods: true, servesContainers: true }, streaming: { supports: () => true }, containerEvents: new ContainerEventBus() } as unknown as Services;
    const handlers = runtimeServiceHandlers({ log: silentLogger() }, services);
    expect(rpcs.filter((m) => typeof handlers[m]?.handle !== 'function')).toEqual([]);
    expect(rpcs).toContain('CheckpointContainer');
  });
});
