import { describe, expect, it } from 'vitest';
import {
  allCapabilities,
  defaultCapabilities,
  defaultDeviceCgroupRules,
  defaultMaskedPaths,
  defaultMounts,
  defaultReadonlyPaths,
  defaultRlimits,
  isKnownCapability,
  privilegedDeviceCgroupRules,
} from './defaults.js';

describe('OCI defaults', () => {
  it('gives the 14 default capabilities, without the dangerous ones', () => {
    const caps = defaultCapabilities();
    expect(caps).toHaveLength(14);
    expect(caps).toContain('CAP_NET_BIND_SERVICE');
    expect(caps).toContain('CAP_KILL');
    for (const c of ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_MODULE', 'CAP_DAC_READ_SEARCH']) {
      expect(caps).not.toContain(c);
    }
    for (const c of caps) expect(isKnownCapability(c)).toBe(true);
  });

  it('lists all capabilities in kernel order and cuts at the kernel last cap', () => {
    const all = allCapabilities();
    expect(all[0]).toBe('CAP_CHOWN');
    expect(all[21]).toBe('CAP_SYS_ADMIN');
    expect(all[40]).toBe('CAP_CHECKPOINT_RESTORE');
    expect(all).toHaveLength(41);
    expect(allCapabilities(37)).toHaveLength(38);
    expect(allCapabilities(37)).not.toContain('CAP_BPF');
    expect(isKnownCapability('CAP_FOO')).toBe(false);
  });

  it('masks /proc and /sys secrets and makes kernel tunables read-only', () => {
    expect(defaultMaskedPaths()).toEqual(expect.arrayContaining(['/proc/kcore', '/proc/keys', '/sys/firmware', '/proc/timer_list']));
    expect(defaultReadonlyPaths()).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  });

  it('mounts proc, dev, devpts, shm, mqueue, sysfs (ro) and cgroup (ro) in that order', () => {
    const m = defaultMounts();
    expect(m.map((x) => x.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
    expect(m.find((x) => x.destination === '/sys')?.options).toContain('ro');
    expect(m.find((x) => x.destination === '/sys/fs/cgroup')?.options).toContain('ro');
    expect(m.find((x) => x.destination === '/dev/pts')?.options).toEqual(expect.arrayContaining(['newinstance', 'ptmxmode=0666', 'gid=5']));
    expect(m.find((x) => x.destination === '/proc')?.type).toBe('proc');
    expect(m.some((x) => x.destination === '/run')).toBe(false);
  });

  it('returns fresh copies so callers may modify them', () => {
    const a = defaultMounts();
    a[0]!.options!.push('ro');
    a.pop();
    expect(defaultMounts()[0]!.options).toEqual(['nosuid', 'noexec', 'nodev']);
    expect(defaultMounts()).toHaveLength(7);
    const caps = defaultCapabilities();
    caps.length = 0;
    expect(defaultCapabilities()).toHaveLength(14);
  });

  it('denies all devices first, then allows the standard nodes; privileged allows all', () => {
    const rules = defaultDeviceCgroupRules();
    expect(rules[0]).toEqual({ allow: false, access: 'rwm' });
    expect(rules).toContainEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
    expect(rules).toContainEqual({ allow: true, type: 'c', major: 136, access: 'rwm' });
    expect(privilegedDeviceCgroupRules()).toEqual([{ allow: true, access: 'rwm' }]);
  });

  it('default rlimits set a nofile soft limit of 1024', () => {
    expect(defaultRlimits()).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 524288 }]);
  });
});
