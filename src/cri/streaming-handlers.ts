// Exec, Attach and PortForward, each registered only when the streaming service has a real
// backend for it; until then server.ts answers that RPC with UNIMPLEMENTED.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { containerAttach } from './container-attach.js';
import { containerExec } from './container-exec.js';
import { unary, type HandlerContext } from './handler.js';
import { sandboxPortForward } from './sandbox-port-forward.js';
import type { Services } from './services.js';

export function streamingHandlers(ctx: HandlerContext, s: Services): UntypedServiceImplementation {
  const st = s.streaming;
  const out: UntypedServiceImplementation = {};
  if (!st) return out;
  if (st.supports('exec')) out.Exec = unary(ctx, 'Exec', containerExec(st));
  if (st.supports('attach')) out.Attach = unary(ctx, 'Attach', containerAttach(st));
  if (st.supports('portforward')) out.PortForward = unary(ctx, 'PortForward', sandboxPortForward(st));
  return out;
}
