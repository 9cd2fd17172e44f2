// PodSandboxStats, ListPodSandboxStats, StreamPodSandboxStats.
import { InvalidArgumentError } from '../lib/errors.js';
import type { PodStatsFilter, StatsService } from '../runtime/stats/stats-service.js';
import type { ListPodSandboxStatsRequest__Output } from './generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from './generated/runtime/v1/ListPodSandboxStatsResponse.js';
import type { PodSandboxStatsFilter__Output } from './generated/runtime/v1/PodSandboxStatsFilter.js';
import type { PodSandboxStatsRequest__Output } from './generated/runtime/v1/PodSandboxStatsRequest.js';
import type { PodSandboxStatsResponse } from './generated/runtime/v1/PodSandboxStatsResponse.js';
import type { StreamPodSandboxStatsRequest__Output } from './generated/runtime/v1/StreamPodSandboxStatsRequest.js';
import type { StreamPodSandboxStatsResponse } from './generated/runtime/v1/StreamPodSandboxStatsResponse.js';
import { chunks, toPodSandboxStats } from './mapping/stats-mapping.js';

function filter(f: PodSandboxStatsFilter__Output | null): PodStatsFilter {
  return { id: f?.id || undefined, labelSelector: f?.label_selector ?? {} };
}

export function podSandboxStats(stats: StatsService) {
  return async (req: PodSandboxStatsRequest__Output): Promise<PodSandboxStatsResponse> => {
    if (req.pod_sandbox_id === '') throw new InvalidArgumentError('pod_sandbox_id must be set');
    return { stats: toPodSandboxStats(await stats.podSandboxStats(req.pod_sandbox_id)) };
  };
}

export function listPodSandboxStats(stats: StatsService) {
  return async (req: ListPodSandboxStatsRequest__Output): Promise<ListPodSandboxStatsResponse> => ({
    stats: (await stats.listPodSandboxStats(filter(req.filter))).map(toPodSandboxStats),
  });
}

export function streamPodSandboxStats(stats: StatsService) {
  return async (req: StreamPodSandboxStatsRequest__Output, send: (r: StreamPodSandboxStatsResponse) => void): Promise<void> => {
    const all = (await stats.listPodSandboxStats(filter(req.filter))).map(toPodSandboxStats);
    for (const part of chunks(all)) send({ pod_sandbox_stats: part });
  };
}
