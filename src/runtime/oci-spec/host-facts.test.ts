import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capabilitiesFromStatus, hugetlbAvailable, parseNofileHard, probeHostFacts, probeHugetlb, supportsRecursiveReadOnly } from './host-facts.js';

const FIX = resolve(import.meta.dirname, '../../../test/fixtures/cgroup-v2');
const fixture = (p: string): string => readFileSync(join(FIX, p), 'utf8');
/** A cgroup v1 node like this one: controllers mounted one per hierarchy, hugetlb in none. */
const V1_NO_HUGETLB = [
  '25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '28 25 0:25 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '29 25 0:26 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
  '30 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '31 24 0:28 / /mnt/hugetlb-notes rw,relatime - tmpfs hugetlb rw',
].join('\n');

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
      hugetlb: false, // not in cgroup.controllers
      capLastCap: 40,
      daemonCapabilities: expect.arrayContaining(['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']),
    });
  });

  it('finds the hugetlb controller: v1 in a mounted cgroup hierarchy (co-mounted too), v2 in cgroup.controllers', () => {
    expect(hugetlbAvailable(false, undefined, fixture('mountinfo-v1-comounted'))).toBe(true);
    expect(hugetlbAvailable(false, undefined, V1_NO_HUGETLB)).toBe(false);
    expect(hugetlbAvailable(false, undefined, V1_NO_HUGETLB.replace('rw,pids', 'rw,pids,hugetlb'))).toBe(true);
    expect(hugetlbAvailable(false, undefined, undefined)).toBe(false);
    const controllers = fixture(
      'systemd/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b7e3f3a_52c1_4a8e_9d3a_7f0c1e2d3b4a.slice/cri-nexcage-4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f.scope/cgroup.controllers',
    );
    expect(hugetlbAvailable(true, controllers, undefined)).toBe(true);
    expect(hugetlbAvailable(true, 'cpuset cpu io memory pids\n', undefined)).toBe(false);
    // v2 ignores a v1 mountinfo (hybrid leftovers) and the other way round
    expect(hugetlbAvailable(true, 'cpu memory\n', fixture('mountinfo-v1-comounted'))).toBe(false);
    expect(hugetlbAvailable(false, controllers, V1_NO_HUGETLB)).toBe(false);
  });

  it('probes hugetlb from fixture roots of both layouts', async () => {
    const v1 = mkdtempSync(join(dir, 'v1-'));
    mkdirSync(join(v1, 'proc/self'), { recursive: true });
    writeFileSync(join(v1, 'proc/self/mountinfo'), V1_NO_HUGETLB);
    expect(await probeHugetlb(v1)).toBe(false);
    expect((await probeHostFacts({ cgroupDriver: 'cgroupfs', root: v1 })).hugetlb).toBe(false);
    writeFileSync(join(v1, 'proc/self/mountinfo'), fixture('mountinfo-v1-comounted'));
    expect(await probeHugetlb(v1)).toBe(true);
    const v2 = mkdtempSync(join(dir, 'v2-'));
    mkdirSync(join(v2, 'sys/fs/cgroup'), { recursive: true });
    writeFileSync(join(v2, 'sys/fs/cgroup/cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    expect(await probeHostFacts({ cgroupDriver: 'systemd', root: v2 })).toMatchObject({ cgroupV2: true, hugetlb: true });
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
    // /proc/cgroups: a v1 controller attached to no hierarchy has hierarchy id 0
    const hugetlbRow = readFileSync('/proc/cgroups', 'utf8').split('\n').find((l) => l.startsWith('hugetlb\t'));
    if (!facts.cgroupV2 && hugetlbRow) expect(facts.hugetlb).toBe(hugetlbRow.split('\t')[1] !== '0');
  });
});
