// The pod sandbox metrics: pods by state (from memory at scrape time, from the source the daemon
// wiring registers) and RunPodSandbox time by step.
import { Gauge, Histogram } from 'prom-client';
import { registry } from '../../lib/metrics.js';
import type { SandboxState } from './sandbox-config.js';

let stateSource: (() => Iterable<{ state: SandboxState }>) | undefined;

/** The one set of pods the gauge reports (one per daemon); registered by the daemon wiring. */
export function setSandboxStateSource(source: (() => Iterable<{ state: SandboxState }>) | undefined): void {
  stateSource = source;
}

export const podsGauge = new Gauge({
  name: 'nexcage_pod_sandboxes',
  help: 'Pod sandboxes known to the daemon, by state (ready, notready).',
  labelNames: ['state'] as const,
  registers: [registry],
  collect() {
    if (!stateSource) return;
    let ready = 0;
    let notReady = 0;
    for (const s of stateSource()) {
      if (s.state === 'READY') ready++;
      else notReady++;
    }
    this.set({ state: 'ready' }, ready);
    this.set({ state: 'notready' }, notReady);
  },
});

export const sandboxCreateDuration = new Histogram({
  name: 'nexcage_sandbox_create_duration_seconds',
  help: 'RunPodSandbox time by step: netns (pinning it), network (CNI ADD) and infra (conmon + runc create/start), which overlap, and total.',
  labelNames: ['step'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
