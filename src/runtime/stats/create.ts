// Builds the daemon's StatsService from its settings: the host's cgroup layout, the driver, the
// writable-layer disk walker. Sources (sandboxes, containers) are plugged in by their services.
import { DiskUsageCache, mountpointOf } from '../../lib/disk-usage.js';
import type { Logger } from '../../lib/log.js';
import type { CgroupDriver } from '../engine/cgroup-driver.js';
import { detectCgroupLayout } from './cgroup-paths.js';
import { CgroupReader } from './cgroup-reader.js';
import { StatsService } from './stats-service.js';

export interface StatsSettings {
  rootDir: string;
  cgroupDriver: CgroupDriver;
  fsUsageRefreshSeconds: number;
  log: Logger;
}

export async function createStatsService(s: StatsSettings): Promise<StatsService> {
  const layout = detectCgroupLayout();
  const log = s.log.child({ component: 'stats' });
  log.debug({ cgroupVersion: layout.version, driver: s.cgroupDriver }, 'stats reader ready');
  return new StatsService({
    reader: new CgroupReader(layout, s.cgroupDriver),
    diskUsage: new DiskUsageCache({ refreshMs: s.fsUsageRefreshSeconds * 1000, log }),
    writableLayerMountpoint: await mountpointOf(s.rootDir),
    log,
  });
}
