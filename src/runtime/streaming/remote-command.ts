// Runs one exec or attach once its transport (SPDY or WebSocket) has its streams ready, and turns
// the way it ended into the status the client expects on the error stream.
import { errorMessage } from '../../lib/errors.js';
import type { StreamIO, StreamingBackends } from './backend.js';
import { statusBytes, type Outcome } from './kube-status.js';
import type { SessionResult } from './metrics.js';
import type { AttachRequest, ExecRequest } from './requests.js';

export interface CommandTransport {
  io: StreamIO;
  /** v4+ protocols carry a metav1.Status; older ones plain text. */
  structuredStatus: boolean;
  /** End stdout/stderr, send the status on the error stream, close the connection. */
  finish(status: Buffer): Promise<void>;
}

export async function runCommand(
  req: ExecRequest | AttachRequest,
  backends: StreamingBackends,
  transport: CommandTransport,
  signal: AbortSignal,
): Promise<SessionResult> {
  let outcome: Outcome;
  try {
    if (req.kind === 'exec') {
      if (!backends.exec) throw new Error('exec is not available on this node');
      const code = await backends.exec.exec(req.containerId, req.cmd, req.tty, transport.io, signal);
      outcome = code === 0 ? { kind: 'success' } : { kind: 'exit', code, cmd: req.cmd };
    } else {
      if (!backends.attach) throw new Error('attach is not available on this node');
      await backends.attach.attach(req.containerId, req.tty, transport.io, signal);
      outcome = { kind: 'success' };
    }
  } catch (err) {
    outcome = { kind: 'error', message: errorMessage(err) };
  }
  await transport.finish(statusBytes(outcome, transport.structuredStatus)).catch(() => undefined);
  return outcome.kind === 'success' ? 'success' : outcome.kind === 'exit' ? 'exit_nonzero' : 'error';
}
