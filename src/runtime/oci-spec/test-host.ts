// Host facts of a plain cgroup v1 / cgroupfs node without AppArmor or SELinux: the baseline the
// spec builder's unit tests vary one field at a time.
import type { HostFacts } from '../container/container-config.js';

export function testHost(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    cgroupDriver: 'cgroupfs',
    cgroupV2: false,
    daemonOomScoreAdj: 0,
    nofileHardLimit: 20000,
    apparmorEnabled: false,
    selinuxEnabled: false,
    supportsRecursiveReadOnly: true,
    arch: 'x64',
    ...overrides,
  };
}
