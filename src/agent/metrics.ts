// The agent's nexcage_agent_* metrics, in the process-wide registry its /metrics serves.
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../lib/metrics.js';

export const agentDaemonUp = new Gauge({
  name: 'nexcage_agent_daemon_up',
  help: '1 when the last CRI call to the local daemon succeeded.',
  registers: [registry],
});

export const agentRuntimeReady = new Gauge({
  name: 'nexcage_agent_runtime_ready',
  help: '1 when the daemon last reported CRI RuntimeReady.',
  registers: [registry],
});

export const agentSyncs = new Counter({
  name: 'nexcage_agent_syncs_total',
  help: 'Node/RuntimeClass sync rounds, by result (ok, error).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const agentApiErrors = new Counter({
  name: 'nexcage_agent_api_errors_total',
  help: 'Failed Kubernetes API calls, by operation.',
  labelNames: ['operation'] as const,
  registers: [registry],
});

export const agentPulls = new Counter({
  name: 'nexcage_agent_image_pulls_total',
  help: 'Pre-pull attempts, by result (pulled, present, failed, unimplemented).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const agentPrePullImages = new Gauge({
  name: 'nexcage_agent_prepull_images',
  help: 'Images listed for pre-pull, by state (pending, done, failed).',
  labelNames: ['state'] as const,
  registers: [registry],
});

export const agentPullSeconds = new Histogram({
  name: 'nexcage_agent_image_pull_duration_seconds',
  help: 'Time for one successful pre-pull through the daemon.',
  buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900],
  registers: [registry],
});
