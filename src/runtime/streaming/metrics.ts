// Streaming metrics: sessions open now, sessions finished by result, bytes moved.
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../lib/metrics.js';

export type StreamKind = 'exec' | 'attach' | 'portforward';
/** success; exit_nonzero (exec ended with a non-zero code); error; rejected (bad/expired token, bad upgrade). */
export type SessionResult = 'success' | 'exit_nonzero' | 'error' | 'rejected';

export const streamingActive = new Gauge({
  name: 'nexcage_streaming_active_sessions',
  help: 'Exec/attach/port-forward sessions open now, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const streamingSessions = new Counter({
  name: 'nexcage_streaming_sessions_total',
  help: 'Exec/attach/port-forward sessions finished, by kind, transport and result.',
  labelNames: ['kind', 'transport', 'result'] as const,
  registers: [registry],
});

export const streamingBytes = new Counter({
  name: 'nexcage_streaming_bytes_total',
  help: 'Payload bytes moved by streaming sessions; direction in = client to container, out = container to client.',
  labelNames: ['kind', 'direction'] as const,
  registers: [registry],
});
