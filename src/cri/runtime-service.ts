// RuntimeService: the RPCs built so far. server.ts answers every other one with UNIMPLEMENTED.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { unary, type HandlerContext } from './handler.js';
import { runtimeConfig, runtimeConfigUpdate } from './runtime-config.js';
import { runtimeStatus } from './runtime-status.js';
import { runtimeVersion } from './runtime-version.js';
import type { Services } from './services.js';
import { statsHandlers } from './stats-handlers.js';
import { streamingHandlers } from './streaming-handlers.js';

export function runtimeServiceHandlers(ctx: HandlerContext, s: Services): UntypedServiceImplementation {
  return {
    Version: unary(ctx, 'Version', runtimeVersion(s)),
    Status: unary(ctx, 'Status', runtimeStatus(s)),
    RuntimeConfig: unary(ctx, 'RuntimeConfig', runtimeConfig(s)),
    UpdateRuntimeConfig: unary(ctx, 'UpdateRuntimeConfig', runtimeConfigUpdate(s)),
    ...statsHandlers(ctx, s),
    ...streamingHandlers(ctx, s),
  };
}
