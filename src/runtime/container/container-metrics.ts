// The container metrics: containers by state (from memory at scrape time),
// lifecycle durations, OOM kills and ExecSync duration/timeouts.
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../../lib/metrics.js';
import type { ContainerState } from './container-record.js';

let stateSource: (() => Map<ContainerState, number>) | undefined;

/** The one store whose containers the gauge reports (one per daemon); registered by the daemon wiring. */
export function setContainerStateSource(source: (() => Map<ContainerState, number>) | undefined): void {
  stateSource = source;
}

export const containersGauge = new Gauge({
  name: 'nexcage_containers',
  help: 'Containers known to the daemon, by state (created, running, exited, unknown).',
  labelNames: ['state'] as const,
  registers: [registry],
  collect() {
    if (!stateSource) return;
    const counts = stateSource();
    for (const s of ['CREATED', 'RUNNING', 'EXITED', 'UNKNOWN'] as const) this.set({ state: s.toLowerCase() }, counts.get(s) ?? 0);
  },
});

export const containerOpDuration = new Histogram({
  name: 'nexcage_container_operation_duration_seconds',
  help: 'Container lifecycle operation time (create, start, stop, remove), successful calls.',
  labelNames: ['operation'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

export const containerOomKills = new Counter({
  name: 'nexcage_container_oom_kills_total',
  help: 'Containers whose init was killed by the OOM killer (reason OOMKilled).',
  registers: [registry],
});

export const execSyncDuration = new Histogram({
  name: 'nexcage_exec_sync_duration_seconds',
  help: 'ExecSync time, from request to the command exiting (or being killed at its timeout).',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

export const execSyncTimeouts = new Counter({
  name: 'nexcage_exec_sync_timeouts_total',
  help: 'ExecSync calls whose command outlived its timeout and was killed (DEADLINE_EXCEEDED).',
  registers: [registry],
});

/** Seconds since `started` (process.hrtime.bigint()). */
export function since(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
