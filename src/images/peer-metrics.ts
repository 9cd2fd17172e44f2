// Metrics of blob sharing between nodes: what this node served to peers, and where each fetched
// blob byte came from (peer, mirror, upstream).
import { Counter } from 'prom-client';
import { registry } from '../lib/metrics.js';

export const peerServedBytes = new Counter({
  name: 'nexcage_peer_served_bytes_total',
  help: 'Blob and manifest bytes served to peers.',
  registers: [registry],
});

export const peerServedRequests = new Counter({
  name: 'nexcage_peer_served_requests_total',
  help: 'Requests from peers by result (ok, not_found, refused, busy, cut_off).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const peerServedPeers = new Counter({
  name: 'nexcage_peer_served_peers_total',
  help: 'Distinct peer addresses served since start.',
  registers: [registry],
});

export const blobSourceBytes = new Counter({
  name: 'nexcage_image_blob_source_bytes_total',
  help: 'Blob bytes fetched, by source: peer, mirror or upstream.',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const blobSourceFetches = new Counter({
  name: 'nexcage_image_blob_source_fetches_total',
  help: 'Blob downloads opened, by source: peer, mirror or upstream.',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const peerFailures = new Counter({
  name: 'nexcage_peer_fetch_failures_total',
  help: 'Peer fetches that failed, by reason (unreachable, not_found, busy, bad_digest, error).',
  labelNames: ['reason'] as const,
  registers: [registry],
});
