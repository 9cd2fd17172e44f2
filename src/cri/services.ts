// The domain services the gRPC layer calls into. Each later issue adds its service here.
import type { RuntimeInfo } from '../runtime/runtime-info.js';
import type { StatsService } from '../runtime/stats/stats-service.js';

export interface Services {
  runtimeInfo: RuntimeInfo;
  /** Container/pod stats and CRI metrics; its RPCs are wired as far as its sources exist. */
  stats?: StatsService;
}
