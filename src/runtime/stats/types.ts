// Plain resource-usage records read from cgroups, /proc and the filesystem. src/cri maps them to
// the CRI messages; nothing here knows protobuf. Byte and time counters are numbers: precision
// only degrades past 2^53 (9 PB, or 104 days of CPU time in ns), far beyond what a sample needs.

/** One pressure line ("some" or "full") of a cgroup v2 *.pressure file. totalNs is cumulative. */
export interface PsiData {
  totalNs: number;
  avg10: number;
  avg60: number;
  avg300: number;
}

export interface PsiStats {
  some: PsiData;
  /** Absent for cpu.pressure on kernels before 5.13. */
  full?: PsiData;
}

export interface CpuStats {
  /** Cumulative CPU time of every task in the cgroup, all cores summed. */
  usageNs: number;
  userNs: number;
  systemNs: number;
  /** CFS bandwidth control: periods elapsed, periods throttled, time throttled. */
  periods: number;
  throttledPeriods: number;
  throttledNs: number;
  psi?: PsiStats;
}

export interface MemoryStats {
  /** memory.current (v2) / memory.usage_in_bytes (v1): everything charged, page cache included. */
  usageBytes: number;
  /** usage - inactive_file, never below 0: what the kubelet evicts on. */
  workingSetBytes: number;
  /** Anonymous memory (v2 anon, v1 total_rss). */
  rssBytes: number;
  /** Page cache (v2 file, v1 total_cache). */
  cacheBytes: number;
  mappedFileBytes: number;
  kernelBytes: number;
  /** undefined = no limit. */
  limitBytes?: number;
  /** memory.peak (v2, 5.19+) / memory.max_usage_in_bytes (v1). */
  maxUsageBytes?: number;
  /** Times the limit was hit (v2 memory.events max, v1 memory.failcnt). */
  failcnt: number;
  pageFaults: number;
  majorPageFaults: number;
  swapUsageBytes?: number;
  swapLimitBytes?: number;
  /** Times the cgroup hit OOM (v2 memory.events oom; v1 under_oom transitions are not counted, so = oomKills). */
  oomEvents: number;
  /** Processes killed by the OOM killer (v2 memory.events oom_kill, v1 memory.oom_control oom_kill). */
  oomKills: number;
  psi?: PsiStats;
}

export interface PidsStats {
  current: number;
  /** undefined = no limit. */
  limit?: number;
}

export interface IoDeviceStats {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  reads: number;
  writes: number;
}

export interface IoStats {
  devices: IoDeviceStats[];
  psi?: PsiStats;
}

export interface HugetlbStats {
  /** As the kernel names it in the file name: "2MB", "1GB", "64KB". */
  pageSize: string;
  usageBytes: number;
  maxUsageBytes?: number;
  /** Allocations that failed because of the limit. */
  failcnt: number;
}

/** Everything one read of one cgroup gives. timestampNs is wall-clock (Date.now based). */
export interface CgroupStats {
  version: 1 | 2;
  timestampNs: number;
  cpu: CpuStats;
  memory: MemoryStats;
  pids: PidsStats;
  io: IoStats;
  hugetlb: HugetlbStats[];
}

export interface NetworkInterfaceStats {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

export interface NetworkStats {
  timestampNs: number;
  /** eth0 when present (what the kubelet calls the pod's interface), else the first non-loopback one. */
  defaultInterface?: NetworkInterfaceStats;
  /** Every other non-loopback interface. */
  interfaces: NetworkInterfaceStats[];
}

export interface FilesystemUsage {
  timestampNs: number;
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}
