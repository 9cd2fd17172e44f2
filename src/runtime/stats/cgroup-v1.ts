// Reads one cgroup across the v1 controllers: cpuacct (usage, user/system), cpu (CFS throttling),
// memory (usage, limit, stat, failcnt, memsw, oom_control), pids, blkio (throttle counters, which
// count every device I/O whatever the scheduler) and hugetlb. A controller that is not mounted or a
// cgroup missing in it reads as zeros; missing in every controller means the cgroup is gone.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../../lib/errors.js';
import { parseKeyValues, parseLimit, parseSingle, readText, workingSet } from './cgroup-files.js';
import { v1Dir, type CgroupLayout, type V1Controller } from './cgroup-paths.js';
import type { CgroupStats, CpuStats, HugetlbStats, IoDeviceStats, IoStats, MemoryStats, PidsStats } from './types.js';

/** cpuacct.stat counts USER_HZ ticks, which is 100 on every Linux ABI. */
const NS_PER_TICK = 1e9 / 100;

export async function readCgroupV1(layout: CgroupLayout, cgroup: string, nowNs: number = Date.now() * 1e6): Promise<CgroupStats> {
  const dirs = new Map<V1Controller, string>();
  let found = 0;
  for (const c of ['cpu', 'cpuacct', 'memory', 'pids', 'blkio', 'hugetlb'] as const) {
    const d = v1Dir(layout, c, cgroup);
    if (d === undefined || !existsSync(d)) continue;
    dirs.set(c, d);
    found++;
  }
  if (found === 0) throw new NotFoundError(`cgroup ${cgroup} does not exist in any cgroup v1 controller`);
  const file = (c: V1Controller, name: string): Promise<string | undefined> => {
    const d = dirs.get(c);
    return Promise.resolve(d === undefined ? undefined : readText(join(d, name)));
  };
  const [cpu, memory, pids, io, hugetlb] = await Promise.all([readCpu(file), readMemory(file), readPids(file), readIo(file), readHugetlb(dirs.get('hugetlb'), file)]);
  return { version: 1, timestampNs: nowNs, cpu, memory, pids, io, hugetlb };
}

type FileReader = (c: V1Controller, name: string) => Promise<string | undefined>;

async function readCpu(file: FileReader): Promise<CpuStats> {
  const [usage, acctStat, cpuStat] = await Promise.all([file('cpuacct', 'cpuacct.usage'), file('cpuacct', 'cpuacct.stat'), file('cpu', 'cpu.stat')]);
  const a = parseKeyValues(acctStat);
  const c = parseKeyValues(cpuStat);
  return {
    usageNs: parseSingle(usage) ?? 0,
    userNs: (a.get('user') ?? 0) * NS_PER_TICK,
    systemNs: (a.get('system') ?? 0) * NS_PER_TICK,
    periods: c.get('nr_periods') ?? 0,
    throttledPeriods: c.get('nr_throttled') ?? 0,
    throttledNs: c.get('throttled_time') ?? 0,
  };
}

async function readMemory(file: FileReader): Promise<MemoryStats> {
  const [usageText, limitText, maxText, failText, statText, memswUsage, memswLimit, kmem, oomControl] = await Promise.all([
    file('memory', 'memory.usage_in_bytes'),
    file('memory', 'memory.limit_in_bytes'),
    file('memory', 'memory.max_usage_in_bytes'),
    file('memory', 'memory.failcnt'),
    file('memory', 'memory.stat'),
    file('memory', 'memory.memsw.usage_in_bytes'),
    file('memory', 'memory.memsw.limit_in_bytes'),
    file('memory', 'memory.kmem.usage_in_bytes'),
    file('memory', 'memory.oom_control'),
  ]);
  const s = parseKeyValues(statText);
  const usage = parseSingle(usageText) ?? 0;
  const limit = parseLimit(limitText);
  const maxUsage = parseSingle(maxText);
  const memsw = parseSingle(memswUsage);
  const memswMax = parseLimit(memswLimit);
  const oomKills = parseKeyValues(oomControl).get('oom_kill') ?? 0;
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, s.get('total_inactive_file') ?? 0),
    rssBytes: s.get('total_rss') ?? 0,
    cacheBytes: s.get('total_cache') ?? 0,
    mappedFileBytes: s.get('total_mapped_file') ?? 0,
    kernelBytes: parseSingle(kmem) ?? 0,
    ...(limit !== undefined ? { limitBytes: limit } : {}),
    ...(maxUsage !== undefined ? { maxUsageBytes: maxUsage } : {}),
    failcnt: parseSingle(failText) ?? 0,
    pageFaults: s.get('total_pgfault') ?? 0,
    majorPageFaults: s.get('total_pgmajfault') ?? 0,
    // memsw counts memory + swap: swap alone is the difference (when swap accounting is on).
    ...(memsw !== undefined ? { swapUsageBytes: Math.max(0, memsw - usage) } : {}),
    ...(memswMax !== undefined && limit !== undefined ? { swapLimitBytes: Math.max(0, memswMax - limit) } : {}),
    oomEvents: oomKills,
    oomKills,
  };
}

async function readPids(file: FileReader): Promise<PidsStats> {
  const [current, max] = await Promise.all([file('pids', 'pids.current'), file('pids', 'pids.max')]);
  const limit = parseLimit(max);
  return { current: parseSingle(current) ?? 0, ...(limit !== undefined ? { limit } : {}) };
}

async function readIo(file: FileReader): Promise<IoStats> {
  const [bytes, ops] = await Promise.all([
    file('blkio', 'blkio.throttle.io_service_bytes_recursive'),
    file('blkio', 'blkio.throttle.io_serviced_recursive'),
  ]);
  const devices = new Map<string, IoDeviceStats>();
  const add = (text: string | undefined, read: keyof IoDeviceStats, write: keyof IoDeviceStats): void => {
    for (const line of (text ?? '').split('\n')) {
      const m = /^(\d+):(\d+) (Read|Write) (\d+)$/.exec(line.trim());
      if (!m) continue;
      const key = `${m[1]}:${m[2]}`;
      let d = devices.get(key);
      if (!d) {
        d = { major: Number(m[1]), minor: Number(m[2]), readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
        devices.set(key, d);
      }
      d[m[3] === 'Read' ? read : write] += Number(m[4]);
    }
  };
  add(bytes, 'readBytes', 'writeBytes');
  add(ops, 'reads', 'writes');
  return { devices: [...devices.values()] };
}

async function readHugetlb(dir: string | undefined, file: FileReader): Promise<HugetlbStats[]> {
  if (dir === undefined) return [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // removed meanwhile
  }
  const sizes = names.flatMap((n) => {
    const m = /^hugetlb\.([0-9]+[KMG]B)\.usage_in_bytes$/.exec(n);
    return m ? [m[1] as string] : [];
  });
  return Promise.all(
    sizes.map(async (size) => {
      const [usage, max, fail] = await Promise.all([
        file('hugetlb', `hugetlb.${size}.usage_in_bytes`),
        file('hugetlb', `hugetlb.${size}.max_usage_in_bytes`),
        file('hugetlb', `hugetlb.${size}.failcnt`),
      ]);
      const maxUsage = parseSingle(max);
      return { pageSize: size, usageBytes: parseSingle(usage) ?? 0, ...(maxUsage !== undefined ? { maxUsageBytes: maxUsage } : {}), failcnt: parseSingle(fail) ?? 0 };
    }),
  );
}
