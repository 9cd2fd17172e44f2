// Was a container's init killed by the OOM killer? conmon writes an `oom` file in the bundle when
// its cgroup's OOM event fires; the cgroup's own oom_kill counter (v1 memory.oom_control, v2
// memory.events) covers the case where conmon missed it. Read before the cgroup is deleted.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupDriver } from '../engine/cgroup-driver.js';
import { containerCgroup, v1Dir, v2Dir, type CgroupLayout } from '../stats/cgroup-paths.js';

/** The `oom_kill N` counter of a memory.oom_control / memory.events text; 0 when absent. */
export function oomKillCount(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

export async function wasOomKilled(bundle: string, layout: CgroupLayout | undefined, driver: CgroupDriver, cgroupsPath: string): Promise<boolean> {
  if (await access(join(bundle, 'oom')).then(() => true, () => false)) return true;
  if (!layout || cgroupsPath === '') return false;
  try {
    const cgroup = containerCgroup(driver, cgroupsPath);
    const file = layout.version === 2 ? join(v2Dir(layout, cgroup), 'memory.events') : join(v1Dir(layout, 'memory', cgroup) ?? '/nonexistent', 'memory.oom_control');
    return oomKillCount(await readFile(file, 'utf8')) > 0;
  } catch {
    return false;
  }
}
