// ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics (the kubelet's CRI metrics
// collector: descriptors once at start, then pod metrics per /metrics/cadvisor scrape).
import type { StatsService } from '../runtime/stats/stats-service.js';
import type { ListMetricDescriptorsRequest__Output } from './generated/runtime/v1/ListMetricDescriptorsRequest.js';
import type { ListMetricDescriptorsResponse } from './generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { ListPodSandboxMetricsRequest__Output } from './generated/runtime/v1/ListPodSandboxMetricsRequest.js';
import type { ListPodSandboxMetricsResponse } from './generated/runtime/v1/ListPodSandboxMetricsResponse.js';
import type { StreamPodSandboxMetricsRequest__Output } from './generated/runtime/v1/StreamPodSandboxMetricsRequest.js';
import type { StreamPodSandboxMetricsResponse } from './generated/runtime/v1/StreamPodSandboxMetricsResponse.js';
import { chunks, toMetricDescriptor, toPodSandboxMetrics } from './mapping/stats-mapping.js';

export function listMetricDescriptors(stats: StatsService) {
  return (_req: ListMetricDescriptorsRequest__Output): ListMetricDescriptorsResponse => ({ descriptors: stats.metricDescriptors().map(toMetricDescriptor) });
}

export function listPodSandboxMetrics(stats: StatsService) {
  return async (_req: ListPodSandboxMetricsRequest__Output): Promise<ListPodSandboxMetricsResponse> => ({
    pod_metrics: (await stats.podSandboxMetrics()).map(toPodSandboxMetrics),
  });
}

export function streamPodSandboxMetrics(stats: StatsService) {
  return async (_req: StreamPodSandboxMetricsRequest__Output, send: (r: StreamPodSandboxMetricsResponse) => void): Promise<void> => {
    const all = (await stats.podSandboxMetrics()).map(toPodSandboxMetrics);
    for (const part of chunks(all)) send({ pod_sandbox_metrics: part });
  };
}
