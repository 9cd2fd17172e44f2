// Image pull metrics, registered on the daemon's registry.
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../lib/metrics.js';
import { pullTracker } from './pull-progress.js';

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

// In-flight pulls, filled from the live progress at each scrape: a pull's series exist only while
// it runs, so their number stays bounded by the pulls running at once.
const inFlightPulls = (): ReturnType<typeof pullTracker.list> => pullTracker.list();

new Gauge({
  name: 'nexcage_image_pull_in_flight_phase',
  help: 'Phase of each pull running now (1 for its current phase: resolve, download, unpack, commit).',
  labelNames: ['image', 'phase'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const p of inFlightPulls()) this.set({ image: p.image, phase: p.phase }, 1);
  },
});

new Gauge({
  name: 'nexcage_image_pull_in_flight_size_bytes',
  help: 'Compressed bytes of the layers a running pull fetches.',
  labelNames: ['image'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const p of inFlightPulls()) this.set({ image: p.image }, p.totalBytes);
  },
});

new Gauge({
  name: 'nexcage_image_pull_in_flight_done_bytes',
  help: 'Compressed bytes a running pull has downloaded (stage="download") and unpacked (stage="unpack").',
  labelNames: ['image', 'stage'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const p of inFlightPulls()) {
      this.set({ image: p.image, stage: 'download' }, p.downloadedBytes);
      this.set({ image: p.image, stage: 'unpack' }, p.unpackedBytes);
    }
  },
});

new Gauge({
  name: 'nexcage_image_pull_in_flight_bytes_per_second',
  help: 'Download and unpack speed of a running pull over the last few seconds.',
  labelNames: ['image', 'stage'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const p of inFlightPulls()) {
      this.set({ image: p.image, stage: 'download' }, p.downloadBytesPerSecond);
      this.set({ image: p.image, stage: 'unpack' }, p.unpackBytesPerSecond);
    }
  },
});

new Gauge({
  name: 'nexcage_image_pull_in_flight_layer_size_bytes',
  help: 'Compressed size of each layer a running pull fetches.',
  labelNames: ['image', 'layer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const p of inFlightPulls()) for (const l of p.layers) if (l.phase !== 'reused') this.set({ image: p.image, layer: l.digest }, l.size);
  },
});

new Gauge({
  name: 'nexcage_image_pull_in_flight_layer_done_bytes',
  help: 'Compressed bytes of each layer of a running pull downloaded (stage="download") and unpacked (stage="unpack").',
  labelNames: ['image', 'layer', 'stage'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const p of inFlightPulls()) {
      for (const l of p.layers) {
        if (l.phase === 'reused') continue;
        this.set({ image: p.image, layer: l.digest, stage: 'download' }, l.downloadedBytes);
        this.set({ image: p.image, layer: l.digest, stage: 'unpack' }, l.unpackedBytes);
      }
    }
  },
});
