// Exec, Attach and PortForward, each registered only when the streaming service has a real
// backend for it; until then server.ts answers that RPC with UNIMPLEMENTED.
import { attach } from './container-attach.js';
import { exec } from './container-exec.js';
import { unary, type HandlerContext, type RpcHandlers } from './grpc/handler.js';
import { portForward } from './sandbox-port-forward.js';
import type { Services } from './services.js';

export function streamingHandlers(ctx: HandlerContext, s: Services): RpcHandlers {
  const st = s.streaming;
  const out: RpcHandlers = {};
  if (!st) return out;
  if (st.supports('exec')) out.Exec = unary(ctx, 'Exec', exec(st));
  if (st.supports('attach')) out.Attach = unary(ctx, 'Attach', attach(st));
  if (st.supports('portforward')) out.PortForward = unary(ctx, 'PortForward', portForward(st));
  return out;
}
