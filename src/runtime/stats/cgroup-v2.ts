// Reads one cgroup v2 directory: cpu.stat, memory.current/max/peak/stat/events, memory.swap.*,
// pids.current/max, io.stat, hugetlb.<size>.*, and cpu/memory/io.pressure where the kernel has PSI.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, isErrno } from '../../lib/errors.js';
import { parseKeyValues, parseLimit, parseNestedKeyed, parsePsi, parseSingle, readText, workingSet } from './cgroup-files.js';
import type { CgroupStats, CpuStats, HugetlbStats, IoStats, MemoryStats, PidsStats } from './types.js';

export async function readCgroupV2(dir: string, nowNs: number = Date.now() * 1e6): Promise<CgroupStats> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new NotFoundError(`cgroup ${dir} does not exist`);
    throw err;
  }
  const present = new Set(names);
  const file = (name: string): Promise<string | undefined> => Promise.resolve(present.has(name) ? readText(join(dir, name)) : undefined);
  const [cpu, memory, pids, io, hugetlb] = await Promise.all([readCpu(file), readMemory(file), readPids(file), readIo(file), readHugetlb(names, file)]);
  return { version: 2, timestampNs: nowNs, cpu, memory, pids, io, hugetlb };
}

type FileReader = (name: string) => Promise<string | undefined>;

async function readCpu(file: FileReader): Promise<CpuStats> {
  const [statText, pressure] = await Promise.all([file('cpu.stat'), file('cpu.pressure')]);
  const s = parseKeyValues(statText);
  const psi = parsePsi(pressure);
  return {
    usageNs: (s.get('usage_usec') ?? 0) * 1000,
    userNs: (s.get('user_usec') ?? 0) * 1000,
    systemNs: (s.get('system_usec') ?? 0) * 1000,
    periods: s.get('nr_periods') ?? 0,
    throttledPeriods: s.get('nr_throttled') ?? 0,
    throttledNs: (s.get('throttled_usec') ?? 0) * 1000,
    ...(psi ? { psi } : {}),
  };
}

async function readMemory(file: FileReader): Promise<MemoryStats> {
  const [current, max, peak, statText, events, swapCurrent, swapMax, pressure] = await Promise.all([
    file('memory.current'),
    file('memory.max'),
    file('memory.peak'),
    file('memory.stat'),
    file('memory.events'),
    file('memory.swap.current'),
    file('memory.swap.max'),
    file('memory.pressure'),
  ]);
  const s = parseKeyValues(statText);
  const e = parseKeyValues(events);
  const usage = parseSingle(current) ?? 0;
  const limit = parseLimit(max);
  const maxUsage = parseSingle(peak);
  const swapUsage = parseSingle(swapCurrent);
  const swapLimit = parseLimit(swapMax);
  const psi = parsePsi(pressure);
  // "kernel" exists from 5.18; before it the kernel part is stack + slab (+ page tables, sock).
  const kernel = s.get('kernel') ?? (s.get('kernel_stack') ?? 0) + (s.get('slab') ?? 0) + (s.get('pagetables') ?? 0) + (s.get('sock') ?? 0);
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, s.get('inactive_file') ?? 0),
    rssBytes: s.get('anon') ?? 0,
    cacheBytes: s.get('file') ?? 0,
    mappedFileBytes: s.get('file_mapped') ?? 0,
    kernelBytes: kernel,
    ...(limit !== undefined ? { limitBytes: limit } : {}),
    ...(maxUsage !== undefined ? { maxUsageBytes: maxUsage } : {}),
    failcnt: e.get('max') ?? 0,
    pageFaults: s.get('pgfault') ?? 0,
    majorPageFaults: s.get('pgmajfault') ?? 0,
    ...(swapUsage !== undefined ? { swapUsageBytes: swapUsage } : {}),
    ...(swapLimit !== undefined ? { swapLimitBytes: swapLimit } : {}),
    oomEvents: e.get('oom') ?? 0,
    oomKills: e.get('oom_kill') ?? 0,
    ...(psi ? { psi } : {}),
  };
}

async function readPids(file: FileReader): Promise<PidsStats> {
  const [current, max] = await Promise.all([file('pids.current'), file('pids.max')]);
  const limit = parseLimit(max);
  return { current: parseSingle(current) ?? 0, ...(limit !== undefined ? { limit } : {}) };
}

async function readIo(file: FileReader): Promise<IoStats> {
  const [stat, pressure] = await Promise.all([file('io.stat'), file('io.pressure')]);
  const devices = parseNestedKeyed(stat).flatMap(({ head, fields }) => {
    const m = /^(\d+):(\d+)$/.exec(head);
    if (!m) return [];
    return [
      {
        major: Number(m[1]),
        minor: Number(m[2]),
        readBytes: fields.get('rbytes') ?? 0,
        writeBytes: fields.get('wbytes') ?? 0,
        reads: fields.get('rios') ?? 0,
        writes: fields.get('wios') ?? 0,
      },
    ];
  });
  const psi = parsePsi(pressure);
  return { devices, ...(psi ? { psi } : {}) };
}

async function readHugetlb(names: string[], file: FileReader): Promise<HugetlbStats[]> {
  const sizes = names.flatMap((n) => {
    const m = /^hugetlb\.([0-9]+[KMG]B)\.current$/.exec(n);
    return m ? [m[1] as string] : [];
  });
  return Promise.all(
    sizes.map(async (size) => {
      const [current, events] = await Promise.all([file(`hugetlb.${size}.current`), file(`hugetlb.${size}.events`)]);
      return { pageSize: size, usageBytes: parseSingle(current) ?? 0, failcnt: parseKeyValues(events).get('max') ?? 0 };
    }),
  );
}
