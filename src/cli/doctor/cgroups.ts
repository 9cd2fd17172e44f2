// cgroups: the hierarchy version, the controllers nexcage and the kubelet need, and the cgroup
// driver nexcage will use against the kubelet's (they must match, or pods fail to start).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseCgroupDriver, probeCgroupHost } from '../../runtime/engine/cgroup-driver.js';
import { fail, ok, warn, type Check, type CheckResult } from './check.js';
import { readKubeletConfig } from './kubelet-config.js';

/** Without these runc cannot run a container (v1 names; v2 has cpu, memory, pids). */
const REQUIRED_V1 = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'devices', 'freezer'];
const REQUIRED_V2 = ['cpu', 'memory', 'pids'];
/** Without these some limits and stats are missing (hugepages resources, block I/O). */
const OPTIONAL_V1 = ['blkio', 'hugetlb'];
const OPTIONAL_V2 = ['io', 'cpuset', 'hugetlb'];

export interface CgroupFacts {
  version: 1 | 2;
  /** Controllers usable: v1 mounted hierarchies, v2 the root's cgroup.controllers. */
  controllers: Set<string>;
  /** v1 hosts with an (empty) cgroup2 mount beside the v1 hierarchies. */
  hybrid: boolean;
}

export function readCgroupFacts(root: string): CgroupFacts | undefined {
  let mountinfo: string;
  try {
    mountinfo = readFileSync(join(root, 'proc/self/mountinfo'), 'utf8');
  } catch {
    return undefined;
  }
  const v1 = new Set<string>();
  let v2Mount: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (fsType === 'cgroup') for (const opt of superOpts.split(',')) v1.add(opt);
    if (fsType === 'cgroup2' && v2Mount === undefined) v2Mount = line.slice(0, sep).split(' ')[4];
  }
  if (v1.has('memory') || v1.has('cpu')) return { version: 1, controllers: v1, hybrid: v2Mount !== undefined };
  if (v2Mount === undefined) return undefined;
  let controllers = '';
  try {
    controllers = readFileSync(join(root, v2Mount, 'cgroup.controllers'), 'utf8');
  } catch {
    // an unreadable root cgroup: no controller can be confirmed
  }
  return { version: 2, controllers: new Set(controllers.split(/\s+/).filter(Boolean)), hybrid: false };
}

export const cgroupsCheck: Check = async (ctx) => {
  const facts = readCgroupFacts(ctx.host.root);
  if (!facts) return [fail('cgroups', 'no cgroup hierarchy is mounted', 'mount cgroup2 on /sys/fs/cgroup (or boot a distribution that does)')];
  const out: CheckResult[] = [];
  if (facts.version === 1) {
    out.push(
      warn(
        'cgroups',
        `cgroup v1${facts.hybrid ? ' (hybrid: the cgroup2 hierarchy holds no controllers)' : ''}; Kubernetes keeps v1 in maintenance only and newer kubelets refuse it by default`,
        'boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2); until then set failCgroupV1: false in the KubeletConfiguration',
      ),
    );
  } else {
    out.push(ok('cgroups', 'cgroup v2 (unified hierarchy)'));
  }
  const required = facts.version === 1 ? REQUIRED_V1 : REQUIRED_V2;
  const optional = facts.version === 1 ? OPTIONAL_V1 : OPTIONAL_V2;
  const missingRequired = required.filter((c) => !facts.controllers.has(c));
  const missingOptional = optional.filter((c) => !facts.controllers.has(c));
  const how = (missing: string[]): string =>
    facts.version === 1
      ? missing.map((c) => `mkdir /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`).join('; ') + ' (or let systemd mount it at boot)'
      : `enable ${missing.join(', ')} in the kernel (CONFIG_CGROUP_*) and in /sys/fs/cgroup/cgroup.subtree_control`;
  if (missingRequired.length > 0) {
    out.push(fail('cgroup-controllers', `missing controllers runc needs: ${missingRequired.join(', ')}`, how(missingRequired)));
  } else if (missingOptional.length > 0) {
    const why = missingOptional.map((c) => (c === 'hugetlb' ? 'hugetlb (no hugepages-* limits or stats; pods asking for hugepages fail)' : c === 'blkio' || c === 'io' ? `${c} (no block I/O stats)` : c));
    out.push(warn('cgroup-controllers', `controllers present: ${[...required].join(', ')}; missing: ${why.join(', ')}`, how(missingOptional)));
  } else {
    out.push(ok('cgroup-controllers', `all controllers present: ${[...required, ...optional].join(', ')}`));
  }
  out.push(driverResult(ctx.config.cgroupDriver, ctx.host.root, ctx.host.kubeletConfig));
  return out;
};

function driverResult(setting: 'auto' | 'systemd' | 'cgroupfs', root: string, kubeletConfigPath: string): CheckResult {
  const host = probeCgroupHost(root.endsWith('/') ? root : `${root}/`);
  const driver = chooseCgroupDriver(setting, host);
  const why = setting !== 'auto' ? '' : host.runsSystemd ? (host.unifiedV2 ? ': systemd is PID 1 on cgroup v2' : ': cgroup v1') : ': systemd is not PID 1';
  const ours = `nexcage uses the ${driver} driver (cgroupDriver "${setting}"${why})`;
  if (driver === 'systemd' && !existsSync(join(root, 'run/systemd/system'))) {
    return fail('cgroup-driver', `${ours} but systemd is not PID 1`, 'set "cgroupDriver": "cgroupfs" in /etc/nexcage/config.json');
  }
  const kubelet = readKubeletConfig(kubeletConfigPath);
  if (kubelet.error) return warn('cgroup-driver', `${ours}; the kubelet's config ${kubeletConfigPath} cannot be read: ${kubelet.error}`, 'fix the KubeletConfiguration file');
  if (!kubelet.found) return ok('cgroup-driver', `${ours}; no kubelet config at ${kubeletConfigPath}: give the kubelet cgroupDriver: ${driver}`);
  // The kubelet's own default is cgroupfs (kubeadm writes systemd explicitly).
  const theirs = kubelet.cgroupDriver ?? 'cgroupfs';
  if (theirs !== driver) {
    return fail(
      'cgroup-driver',
      `${ours} but the kubelet (${kubeletConfigPath}) uses ${theirs}${kubelet.cgroupDriver ? '' : ' (its default)'}: pods would fail to start`,
      `set cgroupDriver: ${driver} in ${kubeletConfigPath}, or "cgroupDriver": "${theirs}" in /etc/nexcage/config.json, then restart both`,
    );
  }
  return ok('cgroup-driver', `${ours}, as the kubelet (${kubeletConfigPath})`);
}
