// ImageService: the RPCs built so far. server.ts answers every other one with UNIMPLEMENTED.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { HandlerContext } from './handler.js';
import type { Services } from './services.js';

export function imageServiceHandlers(_ctx: HandlerContext, _s: Services): UntypedServiceImplementation {
  return {};
}
