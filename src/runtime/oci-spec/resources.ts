// cgroup resources and cgroup path of a container, from CRI's LinuxContainerResources (0 / '' =
// not set, as in CRI) and the pod's cgroup parent, for both cgroup drivers.
import { posix } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { HostFacts, LinuxContainerResources } from '../container/container-config.js';
import type { LinuxResources } from './types.js';

/** The scope prefix runc's systemd driver puts before the container id ("cri-nexcage-<id>.scope"). */
export const SYSTEMD_SCOPE_PREFIX = 'cri-nexcage';
/** Parents used when the kubelet gives none. */
export const DEFAULT_CGROUPFS_PARENT = '/nexcage';
export const DEFAULT_SYSTEMD_SLICE = 'system.slice';

/**
 * linux.cgroupsPath for runc: cgroupfs `<parent>/<id>`; systemd (runc --systemd-cgroup)
 * `<slice>:cri-nexcage:<id>`, where the kubelet's parent is a slice name (or a path ending in one).
 */
export function cgroupsPathFor(driver: HostFacts['cgroupDriver'], parent: string, id: string): string {
  if (driver === 'systemd') {
    const slice = parent === '' ? DEFAULT_SYSTEMD_SLICE : posix.basename(parent);
    if (!slice.endsWith('.slice')) {
      throw new InvalidArgumentError(`cgroup parent "${parent}": the systemd cgroup driver needs a slice name such as kubepods-pod<uid>.slice`);
    }
    return `${slice}:${SYSTEMD_SCOPE_PREFIX}:${id}`;
  }
  const base = parent === '' ? DEFAULT_CGROUPFS_PARENT : parent;
  if (!base.startsWith('/')) throw new InvalidArgumentError(`cgroup parent "${parent}": the cgroupfs driver needs an absolute path`);
  if (base.endsWith('.slice')) {
    throw new InvalidArgumentError(`cgroup parent "${parent}" is a systemd slice but the node uses the cgroupfs driver`);
  }
  return posix.join(base, id);
}

const PAGE_SIZE = /^\d+(KB|MB|GB|TB|PB)$/;

export interface ResourceOptions {
  /** Extra pids.max for every container (daemon setting); 0/undefined = none. */
  pidsLimit?: number;
}

/** The OCI resources (without device rules; the builder adds those). */
export function buildResources(r: LinuxContainerResources | undefined, host: HostFacts, opts: ResourceOptions = {}): LinuxResources {
  const out: LinuxResources = {};
  const res = r ?? {};
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  if ((res.cpuShares ?? 0) < 0) throw new InvalidArgumentError(`cpu_shares ${res.cpuShares} must not be negative`);
  if ((res.cpuPeriod ?? 0) < 0) throw new InvalidArgumentError(`cpu_period ${res.cpuPeriod} must not be negative`);
  if (res.cpuShares) cpu.shares = res.cpuShares;
  if (res.cpuQuota) cpu.quota = res.cpuQuota;
  if (res.cpuPeriod) cpu.period = res.cpuPeriod;
  if (res.cpusetCpus) cpu.cpus = res.cpusetCpus;
  if (res.cpusetMems) cpu.mems = res.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  const memory: NonNullable<LinuxResources['memory']> = {};
  if ((res.memoryLimitInBytes ?? 0) < 0) throw new InvalidArgumentError(`memory_limit_in_bytes ${res.memoryLimitInBytes} must not be negative`);
  if (res.memoryLimitInBytes) memory.limit = res.memoryLimitInBytes;
  // OCI swap is memory+swap; -1 = unlimited. Left unset when CRI does not ask (v1 hosts may lack swap accounting).
  if (res.memorySwapLimitInBytes) memory.swap = res.memorySwapLimitInBytes;
  if (Object.keys(memory).length > 0) out.memory = memory;

  if (res.hugepageLimits && res.hugepageLimits.length > 0) {
    const limits = res.hugepageLimits.map((h) => {
      if (!PAGE_SIZE.test(h.pageSize)) throw new InvalidArgumentError(`hugepage_limits: page size "${h.pageSize}" is not like 2MB or 1GB`);
      return { pageSize: h.pageSize, limit: h.limit };
    });
    // The kubelet sends one (often 0) per page size the node has; without the hugetlb controller
    // runc cannot apply any of them and fails, so they are dropped (as CRI-O does).
    if (host.hugetlb !== false) out.hugepageLimits = limits;
  }
  // unified is cgroup v2 only; kubelets send it on v2 nodes only, containerd drops it on v1
  if (host.cgroupV2 && res.unified && Object.keys(res.unified).length > 0) {
    for (const key of Object.keys(res.unified)) {
      if (key.includes('/') || key.startsWith('.')) throw new InvalidArgumentError(`unified: "${key}" is not a cgroup file name`);
    }
    out.unified = { ...res.unified };
  }
  if (opts.pidsLimit && opts.pidsLimit > 0) out.pids = { limit: opts.pidsLimit };
  return out;
}

/** oom_score_adj in [-1000, 1000] and never below the daemon's own (no CAP_SYS_RESOURCE: runc would fail). */
export function clampOomScoreAdj(wanted: number, daemonOwn: number): number {
  return Math.min(1000, Math.max(wanted, daemonOwn, -1000));
}
