// The CRI metrics (ListMetricDescriptors / ListPodSandboxMetrics): cAdvisor's container_* names and
// label keys, so the kubelet's /metrics/cadvisor looks the same whichever side computes it.
// One table drives both the descriptors and the samples, so they cannot disagree.
//
// Every sample carries the base labels in this order: container (CRI container name, "" for the
// pod's own cgroup), id (the cgroup path), image, name (the container or sandbox id), namespace and
// pod (the pod's metadata), then the metric's extra labels. CRI carries values as uint64, so
// *_seconds_total counters are whole seconds (as CRI-O does).
import { readFileSync } from 'node:fs';
import type { CgroupStats, FilesystemUsage, NetworkInterfaceStats, NetworkStats, PsiStats } from './types.js';

export const BASE_LABEL_KEYS = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;

export type MetricKind = 'counter' | 'gauge';

export interface MetricDescriptor {
  name: string;
  help: string;
  type: MetricKind;
  labelKeys: string[];
}

/** What one cgroup (a container, or the pod as a whole) offers to the table. */
export interface MetricSource {
  cgroup?: CgroupStats;
  /** Pod level only: containers share the pod's network namespace. */
  network?: NetworkStats;
  writableLayer?: FilesystemUsage;
}

interface Value {
  extra: string[];
  value: number;
  /** ns when the figure is cached (disk walks); 0 = read live. */
  timestampNs?: number;
}

interface Definition {
  name: string;
  help: string;
  type: MetricKind;
  extraKeys: string[];
  values(s: MetricSource): Value[];
}

const sec = (ns: number): number => Math.floor(ns / 1e9);
const one = (v: number | undefined): Value[] => (v === undefined ? [] : [{ extra: [], value: v }]);
const cg = <T>(f: (c: CgroupStats) => T) => (s: MetricSource): T | undefined => (s.cgroup ? f(s.cgroup) : undefined);

function ifaces(s: MetricSource): NetworkInterfaceStats[] {
  if (!s.network) return [];
  return [...(s.network.defaultInterface ? [s.network.defaultInterface] : []), ...s.network.interfaces];
}

function net(field: keyof Omit<NetworkInterfaceStats, 'name'>): (s: MetricSource) => Value[] {
  return (s) => ifaces(s).map((i) => ({ extra: [i.name], value: i[field] }));
}

const deviceNames = new Map<string, string>();
/** "/dev/sda" for 8:0 (cAdvisor's device label), from sysfs once per device; "8:0" when unknown. */
export function deviceName(major: number, minor: number): string {
  const key = `${major}:${minor}`;
  let name = deviceNames.get(key);
  if (name === undefined) {
    name = key;
    try {
      const m = /^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${key}/uevent`, 'utf8'));
      if (m) name = `/dev/${m[1]}`;
    } catch {
      // not a block device this host knows (fixtures, devices gone): keep major:minor
    }
    deviceNames.set(key, name);
  }
  return name;
}

function io(field: 'readBytes' | 'writeBytes' | 'reads' | 'writes'): (s: MetricSource) => Value[] {
  return (s) => (s.cgroup?.io.devices ?? []).map((d) => ({ extra: [deviceName(d.major, d.minor)], value: d[field] }));
}

function psi(pick: (c: CgroupStats) => PsiStats | undefined, line: 'some' | 'full'): (s: MetricSource) => Value[] {
  return (s) => {
    const p = s.cgroup ? pick(s.cgroup) : undefined;
    const d = p?.[line];
    return d ? [{ extra: [], value: sec(d.totalNs) }] : [];
  };
}

function fs(f: (w: FilesystemUsage) => number): (s: MetricSource) => Value[] {
  return (s) => (s.writableLayer ? [{ extra: [s.writableLayer.mountpoint], value: f(s.writableLayer), timestampNs: s.writableLayer.timestampNs }] : []);
}

const DEFINITIONS: Definition[] = [
  // cpu
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', type: 'counter', extraKeys: ['cpu'], values: (s) => (s.cgroup ? [{ extra: ['total'], value: sec(s.cgroup.cpu.usageNs) }] : []) },
  { name: 'container_cpu_user_seconds_total', help: 'Cumulative user cpu time consumed in seconds.', type: 'counter', extraKeys: [], values: (s) => one(cg((c) => sec(c.cpu.userNs))(s)) },
  { name: 'container_cpu_system_seconds_total', help: 'Cumulative system cpu time consumed in seconds.', type: 'counter', extraKeys: [], values: (s) => one(cg((c) => sec(c.cpu.systemNs))(s)) },
  { name: 'container_cpu_cfs_periods_total', help: 'Number of elapsed enforcement period intervals.', type: 'counter', extraKeys: [], values: (s) => one(cg((c) => c.cpu.periods)(s)) },
  { name: 'container_cpu_cfs_throttled_periods_total', help: 'Number of throttled period intervals.', type: 'counter', extraKeys: [], values: (s) => one(cg((c) => c.cpu.throttledPeriods)(s)) },
  { name: 'container_cpu_cfs_throttled_seconds_total', help: 'Total time duration the container has been throttled.', type: 'counter', extraKeys: [], values: (s) => one(cg((c) => sec(c.cpu.throttledNs))(s)) },
  // memory
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.usageBytes)(s)) },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.workingSetBytes)(s)) },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.rssBytes)(s)) },
  { name: 'container_memory_cache', help: 'Number of bytes of page cache memory.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.cacheBytes)(s)) },
  { name: 'container_memory_mapped_file', help: 'Size of memory mapped files in bytes.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.mappedFileBytes)(s)) },
  { name: 'container_memory_kernel_usage', help: 'Size of kernel memory allocated in bytes.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.kernelBytes)(s)) },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.swapUsageBytes ?? 0)(s)) },
  { name: 'container_memory_failcnt', help: 'Number of memory usage hits limits.', type: 'counter', extraKeys: [], values: (s) => one(cg((c) => c.memory.failcnt)(s)) },
  { name: 'container_memory_max_usage_bytes', help: 'Maximum memory usage recorded in bytes.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.maxUsageBytes)(s)) },
  {
    name: 'container_memory_failures_total',
    help: 'Cumulative count of memory allocation failures.',
    type: 'counter',
    extraKeys: ['failure_type', 'scope'],
    values: (s) =>
      s.cgroup
        ? [
            { extra: ['pgfault', 'container'], value: s.cgroup.memory.pageFaults },
            { extra: ['pgmajfault', 'container'], value: s.cgroup.memory.majorPageFaults },
          ]
        : [],
  },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container (0 = none).', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.memory.limitBytes ?? 0)(s)) },
  { name: 'container_oom_events_total', help: 'Count of out of memory events observed for the container.', type: 'counter', extraKeys: [], values: (s) => one(cg((c) => c.memory.oomKills)(s)) },
  // processes
  { name: 'container_processes', help: 'Number of processes running inside the container.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.pids.current)(s)) },
  { name: 'container_threads_max', help: 'Maximum number of threads allowed inside the container, infinity if value is zero.', type: 'gauge', extraKeys: [], values: (s) => one(cg((c) => c.pids.limit ?? 0)(s)) },
  // block I/O
  { name: 'container_fs_reads_bytes_total', help: 'Cumulative count of bytes read.', type: 'counter', extraKeys: ['device'], values: io('readBytes') },
  { name: 'container_fs_writes_bytes_total', help: 'Cumulative count of bytes written.', type: 'counter', extraKeys: ['device'], values: io('writeBytes') },
  { name: 'container_fs_reads_total', help: 'Cumulative count of reads completed.', type: 'counter', extraKeys: ['device'], values: io('reads') },
  { name: 'container_fs_writes_total', help: 'Cumulative count of writes completed.', type: 'counter', extraKeys: ['device'], values: io('writes') },
  // writable layer
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', type: 'gauge', extraKeys: ['device'], values: fs((w) => w.usedBytes) },
  { name: 'container_fs_inodes_used', help: 'Number of inodes used by the container on this filesystem.', type: 'gauge', extraKeys: ['device'], values: fs((w) => w.inodesUsed) },
  // hugetlb
  { name: 'container_hugetlb_usage_bytes', help: 'Current hugepage usage.', type: 'gauge', extraKeys: ['pagesize'], values: (s) => (s.cgroup?.hugetlb ?? []).map((h) => ({ extra: [h.pageSize], value: h.usageBytes })) },
  {
    name: 'container_hugetlb_max_usage_bytes',
    help: 'Maximum hugepage usage recorded.',
    type: 'gauge',
    extraKeys: ['pagesize'],
    values: (s) => (s.cgroup?.hugetlb ?? []).flatMap((h) => (h.maxUsageBytes === undefined ? [] : [{ extra: [h.pageSize], value: h.maxUsageBytes }])),
  },
  // pressure stall information (cgroup v2)
  { name: 'container_pressure_cpu_waiting_seconds_total', help: 'Total time duration tasks in the container have waited due to CPU congestion.', type: 'counter', extraKeys: [], values: psi((c) => c.cpu.psi, 'some') },
  { name: 'container_pressure_cpu_stalled_seconds_total', help: 'Total time duration no tasks in the container could make progress due to CPU congestion.', type: 'counter', extraKeys: [], values: psi((c) => c.cpu.psi, 'full') },
  { name: 'container_pressure_memory_waiting_seconds_total', help: 'Total time duration tasks in the container have waited due to memory congestion.', type: 'counter', extraKeys: [], values: psi((c) => c.memory.psi, 'some') },
  { name: 'container_pressure_memory_stalled_seconds_total', help: 'Total time duration no tasks in the container could make progress due to memory congestion.', type: 'counter', extraKeys: [], values: psi((c) => c.memory.psi, 'full') },
  { name: 'container_pressure_io_waiting_seconds_total', help: 'Total time duration tasks in the container have waited due to IO congestion.', type: 'counter', extraKeys: [], values: psi((c) => c.io.psi, 'some') },
  { name: 'container_pressure_io_stalled_seconds_total', help: 'Total time duration no tasks in the container could make progress due to IO congestion.', type: 'counter', extraKeys: [], values: psi((c) => c.io.psi, 'full') },
  // network (pod level)
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received.', type: 'counter', extraKeys: ['interface'], values: net('rxBytes') },
  { name: 'container_network_receive_packets_total', help: 'Cumulative count of packets received.', type: 'counter', extraKeys: ['interface'], values: net('rxPackets') },
  { name: 'container_network_receive_packets_dropped_total', help: 'Cumulative count of packets dropped while receiving.', type: 'counter', extraKeys: ['interface'], values: net('rxDropped') },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving.', type: 'counter', extraKeys: ['interface'], values: net('rxErrors') },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted.', type: 'counter', extraKeys: ['interface'], values: net('txBytes') },
  { name: 'container_network_transmit_packets_total', help: 'Cumulative count of packets transmitted.', type: 'counter', extraKeys: ['interface'], values: net('txPackets') },
  { name: 'container_network_transmit_packets_dropped_total', help: 'Cumulative count of packets dropped while transmitting.', type: 'counter', extraKeys: ['interface'], values: net('txDropped') },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting.', type: 'counter', extraKeys: ['interface'], values: net('txErrors') },
];

export function metricDescriptors(): MetricDescriptor[] {
  return DEFINITIONS.map((d) => ({ name: d.name, help: d.help, type: d.type, labelKeys: [...BASE_LABEL_KEYS, ...d.extraKeys] }));
}

export interface MetricSample {
  name: string;
  type: MetricKind;
  /** In the order of the descriptor's labelKeys. */
  labelValues: string[];
  value: number;
  /** 0 = gathered live; otherwise when the cached figure was taken (ns). */
  timestampNs: number;
}

/** Base label values, in BASE_LABEL_KEYS order. */
export interface BaseLabels {
  container: string;
  id: string;
  image: string;
  name: string;
  namespace: string;
  pod: string;
}

export function samples(base: BaseLabels, source: MetricSource): MetricSample[] {
  const head = BASE_LABEL_KEYS.map((k) => base[k]);
  return DEFINITIONS.flatMap((d) =>
    d.values(source).map((v) => ({ name: d.name, type: d.type, labelValues: [...head, ...v.extra], value: v.value, timestampNs: v.timestampNs ?? 0 })),
  );
}
