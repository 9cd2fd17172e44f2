// Container and pod resource usage as the kubelet's CRI stats provider reads it: cgroup figures,
// usage_nano_cores from cached samples, the pod's network counters, writable-layer usage from the
// background disk walk. Every call reads cgroupfs/procfs only (cheap files); nothing walks a tree
// or waits on a child process on the RPC path except the nsenter fallback for a pod whose infra
// process is gone.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FailedPreconditionError, NotFoundError, errorMessage } from '../../lib/errors.js';
import type { DiskUsageCache } from '../../lib/disk-usage.js';
import type { Logger } from '../../lib/log.js';
import { sumCgroupStats, type CgroupReader } from './cgroup-reader.js';
import { containerCgroup, podCgroup } from './cgroup-paths.js';
import { CpuRateTracker } from './cpu-rate.js';
import { readNetworkStats } from './net-dev.js';
import { metricDescriptors, type MetricDescriptor } from './metric-descriptors.js';
import { podMetrics, type PodMetrics } from './pod-metrics.js';
import type { ContainerStatsSource, SandboxStatsSource, StatsContainerInfo, StatsSandboxInfo } from './provider.js';
import type { CgroupStats, FilesystemUsage, NetworkStats } from './types.js';

export interface ContainerStatsRecord {
  info: StatsContainerInfo;
  /** The cgroup read (relative to the hierarchy root): cAdvisor's `id` label. */
  cgroupPath?: string;
  /** Absent when the container has no cgroup (not started yet, or exited and cleaned up). */
  cgroup?: CgroupStats;
  usageNanoCores?: number;
  /** Absent until the first background walk of the upper dir finished. */
  writableLayer?: FilesystemUsage;
}

export interface PodStatsRecord {
  info: StatsSandboxInfo;
  cgroupPath?: string;
  cgroup?: CgroupStats;
  usageNanoCores?: number;
  /** Absent for host-network pods. */
  network?: NetworkStats;
  containers: ContainerStatsRecord[];
}

export interface ContainerStatsFilter {
  id?: string;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export interface PodStatsFilter {
  id?: string;
  labelSelector?: Record<string, string>;
}

export interface StatsServiceOptions {
  reader: CgroupReader;
  diskUsage: DiskUsageCache;
  /** Mount point of the filesystem holding writable layers (the root dir's). */
  writableLayerMountpoint: string;
  log: Logger;
  /** Background CPU sampling, so the first stats call already has a usage_nano_cores window. */
  sampleIntervalMs?: number;
}

const LIVE_STATES = new Set(['created', 'running']);

export class StatsService {
  private sandboxes: SandboxStatsSource | undefined;
  private containers: ContainerStatsSource | undefined;
  private readonly rates = new CpuRateTracker(1e9);
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: StatsServiceOptions) {}

  /** Plugged in by the daemon once the sandbox service exists. */
  setSandboxSource(s: SandboxStatsSource): void {
    this.sandboxes = s;
  }

  /** Plugged in by the daemon once the container service exists. */
  setContainerSource(c: ContainerStatsSource): void {
    this.containers = c;
  }

  get servesPods(): boolean {
    return this.sandboxes !== undefined;
  }

  get servesContainers(): boolean {
    return this.containers !== undefined;
  }

  async containerStats(id: string): Promise<ContainerStatsRecord> {
    const info = this.containerSource().getContainer(id);
    if (!info) throw new NotFoundError(`container "${id}" not found`);
    return this.readContainer(info, true);
  }

  async listContainerStats(filter: ContainerStatsFilter = {}): Promise<ContainerStatsRecord[]> {
    const all = this.containerSource()
      .listContainers()
      .filter((c) => LIVE_STATES.has(c.state) && matchContainer(c, filter));
    const out = await eachYielding(all, (c) => this.readContainer(c, false));
    // A container whose cgroup vanished between list and read has stopped: leave it out.
    return out.filter((r) => r.cgroup !== undefined);
  }

  async podSandboxStats(id: string): Promise<PodStatsRecord> {
    const info = this.sandboxSource().getSandbox(id);
    if (!info) throw new NotFoundError(`pod sandbox "${id}" not found`);
    if (!info.ready) throw new FailedPreconditionError(`pod sandbox "${info.id}" is not ready: it has no live stats`);
    return this.readPod(info, true);
  }

  async listPodSandboxStats(filter: PodStatsFilter = {}): Promise<PodStatsRecord[]> {
    const pods = this.sandboxSource()
      .listSandboxes()
      .filter((p) => p.ready && matchPod(p, filter));
    const out = await eachYielding(pods, (p) => this.readPod(p, false).catch((err: unknown) => this.skip('pod sandbox', p.id, err)));
    return out.filter((r): r is PodStatsRecord => r !== undefined && r.cgroup !== undefined);
  }

  /** ListMetricDescriptors: fixed, needs no source. */
  metricDescriptors(): MetricDescriptor[] {
    return metricDescriptors();
  }

  /** ListPodSandboxMetrics: every ready pod with its containers. */
  async podSandboxMetrics(): Promise<PodMetrics[]> {
    return (await this.listPodSandboxStats()).map(podMetrics);
  }

  /** Container filesystems for ImageFsInfo.container_filesystems: the writable layers' filesystem. */
  containerFilesystems(): FilesystemUsage[] {
    if (!this.containers) return [];
    let usedBytes = 0;
    let inodesUsed = 0;
    let timestampNs = 0;
    for (const c of this.containers.listContainers()) {
      const u = this.o.diskUsage.get(c.id);
      if (!u) continue;
      usedBytes += u.bytes;
      inodesUsed += u.inodes;
      timestampNs = Math.max(timestampNs, u.timestampNs);
    }
    return [{ timestampNs: timestampNs || Date.now() * 1e6, mountpoint: this.o.writableLayerMountpoint, usedBytes, inodesUsed }];
  }

  /** Background work: keep writable layers watched and CPU samples primed. */
  start(): void {
    if (this.timer) return;
    this.o.diskUsage.start();
    this.timer = setInterval(() => void this.sample(), this.o.sampleIntervalMs ?? 10_000);
    this.timer.unref();
    void this.sample();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.o.diskUsage.stop();
  }

  /** One sweep (exported for tests and the benchmark). */
  async sample(): Promise<void> {
    const alive = new Set<string>();
    try {
      const live: StatsContainerInfo[] = [];
      if (this.containers) {
        const list = this.containers.listContainers();
        const watched = new Set(this.o.diskUsage.keys());
        for (const c of list) {
          if (c.upperDir !== undefined && c.state !== 'unknown') {
            this.o.diskUsage.watch(c.id, c.upperDir);
            watched.delete(c.id);
          }
        }
        for (const gone of watched) this.o.diskUsage.unwatch(gone);
        for (const c of list) {
          if (!LIVE_STATES.has(c.state)) continue;
          alive.add(c.id);
          live.push(c);
        }
      }
      // Only the CPU counters the rates need, one file per cgroup (the RPCs read ~25), read
      // synchronously (cgroup-files.ts) with a turn of the event loop every few cgroups: the
      // kubelet's polls are served in between. Each counter is the one the RPCs observe.
      let reads = 0;
      const observe = async (key: string, usageNs: number | undefined): Promise<void> => {
        if (usageNs !== undefined) this.rates.observe(key, { timestampNs: Date.now() * 1e6, usageNs });
        if (++reads % 8 === 0) await nextTurn();
      };
      const usage = new Map<string, number>();
      for (const c of live) {
        const u = this.o.reader.cpuUsageNs(containerCgroup(this.o.reader.driver, c.cgroupsPath));
        if (u !== undefined) usage.set(c.id, u);
        await observe(c.id, u);
      }
      if (this.sandboxes) {
        for (const p of this.sandboxes.listSandboxes()) {
          if (!p.ready) continue;
          alive.add(podKey(p.id));
          await observe(podKey(p.id), this.podCpuUsageNs(p, live, usage));
        }
      }
      this.rates.retain(alive);
    } catch (err) {
      this.o.log.warn({ err }, 'stats sampling failed');
    }
  }

  /** The pod cgroup's CPU counter, or (no parent cgroup) infra + live containers, as readPodCgroup sums them. */
  private podCpuUsageNs(p: StatsSandboxInfo, live: StatsContainerInfo[], usage: Map<string, number>): number | undefined {
    if (p.cgroupParent !== '') return this.o.reader.cpuUsageNs(podCgroup(this.o.reader.driver, p.cgroupParent));
    const parts: number[] = [];
    if (p.infraCgroupsPath) {
      const infra = this.o.reader.cpuUsageNs(containerCgroup(this.o.reader.driver, p.infraCgroupsPath));
      if (infra !== undefined) parts.push(infra);
    }
    for (const c of live) {
      const u = c.podSandboxId === p.id ? usage.get(c.id) : undefined;
      if (u !== undefined) parts.push(u);
    }
    return parts.length === 0 ? undefined : parts.reduce((a, b) => a + b, 0);
  }

  private async readContainer(info: StatsContainerInfo, strict: boolean): Promise<ContainerStatsRecord> {
    const rec: ContainerStatsRecord = { info };
    const layer = this.o.diskUsage.get(info.id);
    if (layer) rec.writableLayer = { timestampNs: layer.timestampNs, mountpoint: this.o.writableLayerMountpoint, usedBytes: layer.bytes, inodesUsed: layer.inodes };
    if (!LIVE_STATES.has(info.state)) return rec;
    try {
      rec.cgroupPath = containerCgroup(this.o.reader.driver, info.cgroupsPath);
      rec.cgroup = await this.o.reader.read(rec.cgroupPath);
      rec.usageNanoCores = this.rates.observe(info.id, { timestampNs: rec.cgroup.timestampNs, usageNs: rec.cgroup.cpu.usageNs });
    } catch (err) {
      if (err instanceof NotFoundError) return rec;
      if (strict) throw err;
      this.skip('container', info.id, err);
    }
    return rec;
  }

  private async readPod(info: StatsSandboxInfo, strict: boolean): Promise<PodStatsRecord> {
    const containers = this.containers
      ? await eachYielding(
          this.containers.listContainers().filter((c) => c.podSandboxId === info.id && LIVE_STATES.has(c.state)),
          (c) => this.readContainer(c, false),
        )
      : [];
    const rec: PodStatsRecord = { info, containers: containers.filter((c) => c.cgroup !== undefined) };
    const [cg, network] = await Promise.all([
      this.readPodCgroup(info, rec.containers).catch((err: unknown) => {
        if (strict && !(err instanceof NotFoundError)) throw err;
        return undefined;
      }),
      info.netnsPath === undefined
        ? Promise.resolve(undefined)
        : readNetworkStats({ pid: info.infraPid, netnsPath: info.netnsPath }).catch((err: unknown) => {
            this.o.log.debug({ podSandboxId: info.id, error: errorMessage(err) }, 'pod network stats unavailable');
            return undefined;
          }),
    ]);
    if (cg) {
      rec.cgroupPath = cg.path;
      rec.cgroup = cg.stats;
      rec.usageNanoCores = cg.rate;
    }
    if (network) rec.network = network;
    return rec;
  }

  /** The pod cgroup, or the sum of infra + containers when the pod has no parent cgroup of its own. */
  private async readPodCgroup(info: StatsSandboxInfo, containers?: ContainerStatsRecord[]): Promise<{ path?: string; stats: CgroupStats; rate?: number }> {
    let path: string | undefined;
    let stats: CgroupStats | undefined;
    if (info.cgroupParent !== '') {
      path = podCgroup(this.o.reader.driver, info.cgroupParent);
      stats = await this.o.reader.read(path);
    } else {
      const parts: CgroupStats[] = [];
      if (info.infraCgroupsPath) {
        const infra = await this.o.reader.container(info.infraCgroupsPath).catch((err: unknown) => {
          if (err instanceof NotFoundError) return undefined;
          throw err;
        });
        if (infra) parts.push(infra);
      }
      for (const c of containers ?? []) if (c.cgroup) parts.push(c.cgroup);
      stats = sumCgroupStats(parts, Date.now() * 1e6);
      if (!stats) throw new NotFoundError(`pod sandbox "${info.id}" has no cgroup to read`);
    }
    const rate = this.rates.observe(podKey(info.id), { timestampNs: stats.timestampNs, usageNs: stats.cpu.usageNs });
    return { ...(path ? { path } : {}), stats, ...(rate !== undefined ? { rate } : {}) };
  }

  private skip(kind: string, id: string, err: unknown): undefined {
    this.o.log.warn({ id, error: errorMessage(err) }, `${kind} stats could not be read`);
    return undefined;
  }

  private containerSource(): ContainerStatsSource {
    if (!this.containers) throw new FailedPreconditionError('container stats: no container service is running');
    return this.containers;
  }

  private sandboxSource(): SandboxStatsSource {
    if (!this.sandboxes) throw new FailedPreconditionError('pod sandbox stats: no sandbox service is running');
    return this.sandboxes;
  }
}

/**
 * One item after the other, giving the event loop a turn between items: cgroup files are read
 * synchronously (fast, see cgroup-files.ts), and 100 containers must not hold the loop at once.
 */
async function eachYielding<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) {
    out.push(await fn(item));
    await nextTurn();
  }
  return out;
}

function podKey(id: string): string {
  return `pod:${id}`;
}

function matchLabels(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

function matchContainer(c: StatsContainerInfo, f: ContainerStatsFilter): boolean {
  if (f.id && !c.id.startsWith(f.id)) return false;
  if (f.podSandboxId && !c.podSandboxId.startsWith(f.podSandboxId)) return false;
  return matchLabels(c.labels, f.labelSelector);
}

function matchPod(p: StatsSandboxInfo, f: PodStatsFilter): boolean {
  if (f.id && !p.id.startsWith(f.id)) return false;
  return matchLabels(p.labels, f.labelSelector);
}
