// Domain stats records -> CRI stats messages. Numbers become decimal strings (int64/uint64 travel as
// strings with longs: String); a figure the runtime does not have is left out (null), never 0.
import type { FilesystemUsage as DomainFsUsage } from '../../runtime/stats/types.js';
import type { PsiStats as DomainPsi, CgroupStats } from '../../runtime/stats/types.js';
import type { MetricDescriptor as DomainDescriptor, MetricSample } from '../../runtime/stats/metric-descriptors.js';
import type { PodMetrics } from '../../runtime/stats/pod-metrics.js';
import type { ContainerStatsRecord, PodStatsRecord } from '../../runtime/stats/stats-service.js';
import type { NetworkInterfaceStats, NetworkStats } from '../../runtime/stats/types.js';
import type { ContainerStats } from '../generated/runtime/v1/ContainerStats.js';
import type { FilesystemUsage } from '../generated/runtime/v1/FilesystemUsage.js';
import type { Metric } from '../generated/runtime/v1/Metric.js';
import type { MetricDescriptor } from '../generated/runtime/v1/MetricDescriptor.js';
import type { NetworkInterfaceUsage } from '../generated/runtime/v1/NetworkInterfaceUsage.js';
import type { NetworkUsage } from '../generated/runtime/v1/NetworkUsage.js';
import type { PodSandboxMetrics } from '../generated/runtime/v1/PodSandboxMetrics.js';
import type { PodSandboxStats } from '../generated/runtime/v1/PodSandboxStats.js';
import type { PsiStats } from '../generated/runtime/v1/PsiStats.js';
import type { UInt64Value } from '../generated/runtime/v1/UInt64Value.js';

/** A non-negative integer as the decimal string protobuf longs travel as (no exponent form). */
export function u64(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0';
  return BigInt(Math.floor(n)).toString();
}

const val = (n: number | undefined): UInt64Value | null => (n === undefined ? null : { value: u64(n) });

function psi(p: DomainPsi | undefined): PsiStats | null {
  if (!p) return null;
  const d = (x: DomainPsi['some']) => ({ Total: u64(x.totalNs), Avg10: x.avg10, Avg60: x.avg60, Avg300: x.avg300 });
  return { Some: d(p.some), Full: p.full ? d(p.full) : null };
}

function cpu(c: CgroupStats, nanoCores: number | undefined) {
  return { timestamp: u64(c.timestampNs), usage_core_nano_seconds: val(c.cpu.usageNs), usage_nano_cores: val(nanoCores), psi: psi(c.cpu.psi) };
}

function memory(c: CgroupStats) {
  const m = c.memory;
  return {
    timestamp: u64(c.timestampNs),
    working_set_bytes: val(m.workingSetBytes),
    // "memory limit - workingSetBytes": only meaningful with a limit
    available_bytes: m.limitBytes === undefined ? null : val(Math.max(0, m.limitBytes - m.workingSetBytes)),
    usage_bytes: val(m.usageBytes),
    rss_bytes: val(m.rssBytes),
    page_faults: val(m.pageFaults),
    major_page_faults: val(m.majorPageFaults),
    psi: psi(m.psi),
  };
}

export function fsUsage(f: DomainFsUsage): FilesystemUsage {
  return { timestamp: u64(f.timestampNs), fs_id: { mountpoint: f.mountpoint }, used_bytes: val(f.usedBytes), inodes_used: val(f.inodesUsed) };
}

export function toContainerStats(r: ContainerStatsRecord): ContainerStats {
  const c = r.cgroup;
  const m = c?.memory;
  return {
    attributes: {
      id: r.info.id,
      metadata: { name: r.info.metadata.name, attempt: r.info.metadata.attempt },
      labels: r.info.labels,
      annotations: r.info.annotations,
    },
    cpu: c ? cpu(c, r.usageNanoCores) : null,
    memory: c ? memory(c) : null,
    writable_layer: r.writableLayer ? fsUsage(r.writableLayer) : null,
    swap:
      c && m && m.swapUsageBytes !== undefined
        ? {
            timestamp: u64(c.timestampNs),
            swap_usage_bytes: val(m.swapUsageBytes),
            swap_available_bytes: m.swapLimitBytes === undefined ? null : val(Math.max(0, m.swapLimitBytes - m.swapUsageBytes)),
          }
        : null,
    io: c ? { timestamp: u64(c.timestampNs), psi: psi(c.io.psi) } : null,
  };
}

function iface(i: NetworkInterfaceStats): NetworkInterfaceUsage {
  return { name: i.name, rx_bytes: val(i.rxBytes), rx_errors: val(i.rxErrors), tx_bytes: val(i.txBytes), tx_errors: val(i.txErrors) };
}

function network(n: NetworkStats): NetworkUsage {
  return { timestamp: u64(n.timestampNs), default_interface: n.defaultInterface ? iface(n.defaultInterface) : null, interfaces: n.interfaces.map(iface) };
}

export function toPodSandboxStats(r: PodStatsRecord): PodSandboxStats {
  const c = r.cgroup;
  return {
    attributes: {
      id: r.info.id,
      metadata: { name: r.info.metadata.name, uid: r.info.metadata.uid, namespace: r.info.metadata.namespace, attempt: r.info.metadata.attempt },
      labels: r.info.labels,
      annotations: r.info.annotations,
    },
    linux: {
      cpu: c ? cpu(c, r.usageNanoCores) : null,
      memory: c ? memory(c) : null,
      network: r.network ? network(r.network) : null,
      process: c ? { timestamp: u64(c.timestampNs), process_count: val(c.pids.current) } : null,
      containers: r.containers.map(toContainerStats),
      io: c ? { timestamp: u64(c.timestampNs), psi: psi(c.io.psi) } : null,
    },
    windows: null,
  };
}

export function toMetricDescriptor(d: DomainDescriptor): MetricDescriptor {
  return { name: d.name, help: d.help, label_keys: d.labelKeys };
}

function metric(m: MetricSample): Metric {
  return { name: m.name, timestamp: u64(m.timestampNs), metric_type: m.type === 'counter' ? 'COUNTER' : 'GAUGE', label_values: m.labelValues, value: { value: u64(m.value) } };
}

export function toPodSandboxMetrics(p: PodMetrics): PodSandboxMetrics {
  return {
    pod_sandbox_id: p.podSandboxId,
    metrics: p.metrics.map(metric),
    container_metrics: p.containerMetrics.map((c) => ({ container_id: c.containerId, metrics: c.metrics.map(metric) })),
  };
}

/** Streaming variants send the list in slices so no message nears the size limit. */
export function chunks<T>(items: T[], size = 100): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
