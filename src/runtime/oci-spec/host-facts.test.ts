import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capabilitiesFromStatus, parseNofileHard, probeHostFacts, supportsRecursiveReadOnly } from './host-facts.js';

const dir = mkdtempSync(join(tmpdir(), 'nexcage-hostfacts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const put = (p: string, content: string): void => {
  mkdirSync(dirname(join(dir, p)), { recursive: true });
  writeFileSync(join(dir, p), content);
};

describe('host facts', () => {
  it('parses the hard nofile limit', () => {
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    expect(parseNofileHard(limits)).toBe(524288);
    expect(parseNofileHard('Max open files  unlimited unlimited files')).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseNofileHard('')).toBeUndefined();
  });

  it('reads the daemon capabilities from CapEff', () => {
    const caps = capabilitiesFromStatus('Name:\tnode\nCapEff:\t000001fffeffffff\n')!;
    expect(caps).toHaveLength(40);
    expect(caps).not.toContain('CAP_SYS_RESOURCE');
    expect(capabilitiesFromStatus('CapEff:\t0000000000000003\n')).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    expect(capabilitiesFromStatus('')).toBeUndefined();
  });

  it('rro needs Linux 5.12+ and a runtime that lists it', () => {
    expect(supportsRecursiveReadOnly('6.1.0-18-amd64', ['rbind', 'rro'])).toBe(true);
    expect(supportsRecursiveReadOnly('5.12.0', ['rro'])).toBe(true);
    expect(supportsRecursiveReadOnly('5.11.22', ['rro'])).toBe(false);
    expect(supportsRecursiveReadOnly('6.1.0', ['rbind'])).toBe(false);
    expect(supportsRecursiveReadOnly('6.1.0', undefined)).toBe(false);
  });

  it('reads a v2 + AppArmor + SELinux node from fixture files', async () => {
    put('proc/self/oom_score_adj', '-999\n');
    put('proc/self/limits', 'Max open files            1024                 1048576              files\n');
    put('proc/sys/kernel/cap_last_cap', '40\n');
    put('sys/module/apparmor/parameters/enabled', 'Y\n');
    put('sys/fs/selinux/enforce', '1');
    put('sys/fs/cgroup/cgroup.controllers', 'cpu memory pids\n');
    put('proc/self/status', 'CapEff:\t00000000a80425fb\n');
    expect(
      await probeHostFacts({ cgroupDriver: 'systemd', root: dir, kernelRelease: '6.8.0', runtimeMountOptions: ['rro'], apparmorDefaultProfile: 'nexcage-default' }),
    ).toEqual({
      cgroupDriver: 'systemd',
      cgroupV2: true,
      daemonOomScoreAdj: -999,
      nofileHardLimit: 1048576,
      apparmorEnabled: true,
      apparmorDefaultProfile: 'nexcage-default',
      selinuxEnabled: true,
      supportsRecursiveReadOnly: true,
      kernelRelease: '6.8.0',
      capLastCap: 40,
      daemonCapabilities: expect.arrayContaining(['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']),
    });
  });

  it('reads this machine (cgroup v1, no LSM, nofile 20000)', async () => {
    const facts = await probeHostFacts({ cgroupDriver: 'cgroupfs' });
    const own = Number((await import('node:fs')).readFileSync('/proc/self/oom_score_adj', 'utf8'));
    expect(facts.daemonOomScoreAdj).toBe(own);
    expect(facts.nofileHardLimit).toBeGreaterThan(0);
    expect(facts.capLastCap).toBeGreaterThanOrEqual(37);
    expect(facts.supportsRecursiveReadOnly).toBe(false); // runtime features not given
    expect(facts.daemonCapabilities).toContain('CAP_SYS_ADMIN');
    expect(facts.kernelRelease).toBe((await import('node:os')).release()); // for Localhost seccomp minKernel
  });
});
