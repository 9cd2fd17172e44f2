// ListPodSandboxMetrics from pod stats records: the pod's own cgroup (container="") with its
// network, then every container's cgroup and writable layer.
import { samples, type MetricSample } from './metric-descriptors.js';
import type { PodStatsRecord } from './stats-service.js';

export interface PodMetrics {
  podSandboxId: string;
  metrics: MetricSample[];
  containerMetrics: { containerId: string; metrics: MetricSample[] }[];
}

export function podMetrics(rec: PodStatsRecord): PodMetrics {
  const { metadata } = rec.info;
  return {
    podSandboxId: rec.info.id,
    metrics: samples(
      { container: '', id: rec.cgroupPath ?? '', image: '', name: rec.info.id, namespace: metadata.namespace, pod: metadata.name },
      { cgroup: rec.cgroup, network: rec.network },
    ),
    containerMetrics: rec.containers.map((c) => ({
      containerId: c.info.id,
      metrics: samples(
        { container: c.info.metadata.name, id: c.cgroupPath ?? '', image: c.info.image, name: c.info.id, namespace: metadata.namespace, pod: metadata.name },
        { cgroup: c.cgroup, writableLayer: c.writableLayer },
      ),
    })),
  };
}
