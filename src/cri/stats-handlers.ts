// The stats and metrics RPCs, wired only when their backend exists: ListMetricDescriptors always
// (the table is fixed); pod RPCs once a sandbox source is plugged into StatsService; container RPCs
// once a container source is. Anything not returned here stays UNIMPLEMENTED (server.ts).
import { containerStats, listContainerStats, streamContainerStats } from './container-stats.js';
import { serverStream, unary, type HandlerContext, type RpcHandlers } from './grpc/handler.js';
import { listMetricDescriptors, listPodSandboxMetrics, streamPodSandboxMetrics } from './pod-sandbox-metrics.js';
import { listPodSandboxStats, podSandboxStats, streamPodSandboxStats } from './pod-sandbox-stats.js';
import type { Services } from './services.js';

export function statsHandlers(ctx: HandlerContext, s: Services): RpcHandlers {
  const stats = s.stats;
  if (!stats) return {};
  const out: RpcHandlers = {
    ListMetricDescriptors: unary(ctx, 'ListMetricDescriptors', listMetricDescriptors(stats)),
  };
  if (stats.servesPods) {
    Object.assign(out, {
      PodSandboxStats: unary(ctx, 'PodSandboxStats', podSandboxStats(stats)),
      ListPodSandboxStats: unary(ctx, 'ListPodSandboxStats', listPodSandboxStats(stats)),
      StreamPodSandboxStats: serverStream(ctx, 'StreamPodSandboxStats', streamPodSandboxStats(stats)),
      ListPodSandboxMetrics: unary(ctx, 'ListPodSandboxMetrics', listPodSandboxMetrics(stats)),
      StreamPodSandboxMetrics: serverStream(ctx, 'StreamPodSandboxMetrics', streamPodSandboxMetrics(stats)),
    });
  }
  if (stats.servesContainers) {
    Object.assign(out, {
      ContainerStats: unary(ctx, 'ContainerStats', containerStats(stats)),
      ListContainerStats: unary(ctx, 'ListContainerStats', listContainerStats(stats)),
      StreamContainerStats: serverStream(ctx, 'StreamContainerStats', streamContainerStats(stats)),
    });
  }
  return out;
}
