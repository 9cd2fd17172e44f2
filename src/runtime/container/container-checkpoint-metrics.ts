// Checkpoint and restore metrics: how many, how long, how big.
import { Counter, Histogram } from 'prom-client';
import { registry } from '../../lib/metrics.js';

export const checkpointsTotal = new Counter({
  name: 'nexcage_container_checkpoints_total',
  help: 'CheckpointContainer calls that reached the runtime, by result (ok, error, timeout).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const checkpointDuration = new Histogram({
  name: 'nexcage_container_checkpoint_duration_seconds',
  help: 'Time of a successful checkpoint: pause, CRIU dump, writable layer, archive written and renamed.',
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [registry],
});

export const checkpointBytes = new Histogram({
  name: 'nexcage_container_checkpoint_archive_bytes',
  help: 'Size of the checkpoint archives written.',
  buckets: [1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30, 4 << 30],
  registers: [registry],
});

export const restoreDuration = new Histogram({
  name: 'nexcage_container_restore_duration_seconds',
  help: 'Time StartContainer takes to restore a container from its checkpoint (conmon + runc restore).',
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});
