// Which cgroup driver the node uses. The kubelet reads it through RuntimeConfig and must match.
import { existsSync } from 'node:fs';

export type CgroupDriver = 'systemd' | 'cgroupfs';

export interface CgroupHost {
  /** systemd is PID 1 (it creates /run/systemd/system). */
  runsSystemd: boolean;
  /** /sys/fs/cgroup is the unified cgroup v2 hierarchy. */
  unifiedV2: boolean;
}

export function probeCgroupHost(root = '/'): CgroupHost {
  return {
    runsSystemd: existsSync(`${root}run/systemd/system`),
    unifiedV2: existsSync(`${root}sys/fs/cgroup/cgroup.controllers`),
  };
}

/** `auto` follows containerd's advice for kubelets: systemd on systemd + v2 hosts, else cgroupfs. */
export function chooseCgroupDriver(setting: 'auto' | CgroupDriver, host: CgroupHost): CgroupDriver {
  if (setting !== 'auto') return setting;
  return host.runsSystemd && host.unifiedV2 ? 'systemd' : 'cgroupfs';
}
