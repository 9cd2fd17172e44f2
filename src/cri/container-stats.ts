// ContainerStats, ListContainerStats, StreamContainerStats.
import { InvalidArgumentError } from '../lib/errors.js';
import type { ContainerStatsFilter } from '../runtime/stats/stats-service.js';
import type { ContainerStatsFilter__Output } from './generated/runtime/v1/ContainerStatsFilter.js';
import type { ContainerStatsRequest__Output } from './generated/runtime/v1/ContainerStatsRequest.js';
import type { ContainerStatsResponse } from './generated/runtime/v1/ContainerStatsResponse.js';
import type { ListContainerStatsRequest__Output } from './generated/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from './generated/runtime/v1/ListContainerStatsResponse.js';
import type { StreamContainerStatsRequest__Output } from './generated/runtime/v1/StreamContainerStatsRequest.js';
import type { StreamContainerStatsResponse } from './generated/runtime/v1/StreamContainerStatsResponse.js';
import type { StatsService } from '../runtime/stats/stats-service.js';
import { chunks, toContainerStats } from './mapping/stats-mapping.js';

function filter(f: ContainerStatsFilter__Output | null): ContainerStatsFilter {
  return { id: f?.id || undefined, podSandboxId: f?.pod_sandbox_id || undefined, labelSelector: f?.label_selector ?? {} };
}

export function containerStats(stats: StatsService) {
  return async (req: ContainerStatsRequest__Output): Promise<ContainerStatsResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('container_id must be set');
    return { stats: toContainerStats(await stats.containerStats(req.container_id)) };
  };
}

export function listContainerStats(stats: StatsService) {
  return async (req: ListContainerStatsRequest__Output): Promise<ListContainerStatsResponse> => ({
    stats: (await stats.listContainerStats(filter(req.filter))).map(toContainerStats),
  });
}

export function streamContainerStats(stats: StatsService) {
  return async (req: StreamContainerStatsRequest__Output, send: (r: StreamContainerStatsResponse) => void): Promise<void> => {
    const all = (await stats.listContainerStats(filter(req.filter))).map(toContainerStats);
    for (const part of chunks(all)) send({ container_stats: part });
  };
}
