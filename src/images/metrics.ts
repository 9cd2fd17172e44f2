// Image pull metrics, registered on the daemon's registry.
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../lib/metrics.js';

export const imagePulls = new Counter({
  name: 'nexcage_image_pulls_total',
  help: 'Image pulls by result (success, failure, cancelled: every caller went away before it finished).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const imagePullBytes = new Counter({
  name: 'nexcage_image_pull_bytes_total',
  help: 'Blob bytes downloaded from registries.',
  registers: [registry],
});

export const imagePullDuration = new Histogram({
  name: 'nexcage_image_pull_duration_seconds',
  help: 'Time to pull an image (resolve, download, unpack).',
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
  registers: [registry],
});

export const imagePullsInFlight = new Gauge({
  name: 'nexcage_image_pulls_in_flight',
  help: 'Image pulls running now.',
  registers: [registry],
});

export const imageLayers = new Counter({
  name: 'nexcage_image_layers_total',
  help: 'Layers needed by pulls: reused (snapshot already present) or fetched (downloaded and unpacked).',
  labelNames: ['source'] as const,
  registers: [registry],
});
