import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { containerCgroup, expandSlice, parseCgroupLayout, podCgroup, v1Dir, v2Dir } from './cgroup-paths.js';

const FIX = resolve(import.meta.dirname, '../../../test/fixtures/cgroup-v2');

describe('cgroup paths', () => {
  it('expands systemd slice names the way systemd nests them', () => {
    expect(expandSlice('kubepods.slice')).toBe('/kubepods.slice');
    expect(expandSlice('kubepods-burstable-pod12.slice')).toBe('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice');
    expect(expandSlice('-.slice')).toBe('/');
    expect(() => expandSlice('kubepods--x.slice')).toThrow(InvalidArgumentError);
    expect(() => expandSlice('/kubepods')).toThrow(/not a systemd slice/);
  });

  it('maps OCI cgroupsPath for both drivers', () => {
    expect(containerCgroup('systemd', 'kubepods-besteffort-podu1.slice:cri-nexcage:abc')).toBe(
      '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podu1.slice/cri-nexcage-abc.scope',
    );
    expect(containerCgroup('systemd', ':cri-nexcage:abc')).toBe('/system.slice/cri-nexcage-abc.scope');
    expect(containerCgroup('cgroupfs', '/kubepods/burstable/podu1/abc')).toBe('/kubepods/burstable/podu1/abc');
    expect(containerCgroup('cgroupfs', 'nexcage/abc/')).toBe('/nexcage/abc');
    expect(() => containerCgroup('cgroupfs', '/kubepods/../etc')).toThrow(InvalidArgumentError);
    expect(() => containerCgroup('systemd', '/kubepods/abc')).toThrow(/slice:prefix:name/);
  });

  it('maps pod cgroup parents for both drivers', () => {
    expect(podCgroup('systemd', 'kubepods-podu2.slice')).toBe('/kubepods.slice/kubepods-podu2.slice');
    expect(podCgroup('cgroupfs', '/kubepods/podu2')).toBe('/kubepods/podu2');
  });

  it('reads a v2 host, a v1 host with co-mounted cpu,cpuacct, and a container-rooted mount', () => {
    const v2 = parseCgroupLayout(readFileSync(join(FIX, 'mountinfo-v2'), 'utf8'));
    expect(v2.version).toBe(2);
    expect(v2Dir(v2, '/kubepods.slice/x.scope')).toBe('/sys/fs/cgroup/kubepods.slice/x.scope');

    const v1 = parseCgroupLayout(readFileSync(join(FIX, 'mountinfo-v1-comounted'), 'utf8'));
    expect(v1.version).toBe(1);
    expect(v1Dir(v1, 'cpu', '/kubepods/a')).toBe('/sys/fs/cgroup/cpu,cpuacct/kubepods/a');
    expect(v1Dir(v1, 'cpuacct', '/kubepods/a')).toBe('/sys/fs/cgroup/cpu,cpuacct/kubepods/a');
    expect(v1Dir(v1, 'hugetlb', '/kubepods/a')).toBe('/sys/fs/cgroup/hugetlb/kubepods/a');

    const inside = parseCgroupLayout(readFileSync(join(FIX, 'mountinfo-container-v2'), 'utf8'));
    expect(v2Dir(inside, '/kubepods.slice/kubepods-burstable.slice/p.slice')).toBe('/sys/fs/cgroup/p.slice');
  });

  it('reads this machine (v1 with separate cpu and cpuacct mounts, hugetlb not mounted)', () => {
    const layout = parseCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
    expect(layout.version).toBe(1);
    expect(v1Dir(layout, 'memory', '/x')).toBe('/sys/fs/cgroup/memory/x');
  });
});

describe('agreement with the OCI spec builder', () => {
  it('reads exactly the cgroup runc makes from the cgroupsPath the builder writes, and the pod cgroup is its parent', async () => {
    const { cgroupsPathFor } = await import('../oci-spec/resources.js');
    const sys = cgroupsPathFor('systemd', 'kubepods-burstable-pod12.slice', 'abc');
    expect(containerCgroup('systemd', sys)).toBe('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-nexcage-abc.scope');
    expect(podCgroup('systemd', 'kubepods-burstable-pod12.slice')).toBe('/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice');
    // a parent given as a full slice path: the builder keeps its last slice, the pod cgroup is the path
    const full = '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9.slice';
    expect(containerCgroup('systemd', cgroupsPathFor('systemd', full, 'x'))).toBe(`${full}/cri-nexcage-x.scope`);
    expect(podCgroup('systemd', full)).toBe(full);
    const fs = cgroupsPathFor('cgroupfs', '/kubepods/burstable/pod12', 'abc');
    expect(containerCgroup('cgroupfs', fs)).toBe('/kubepods/burstable/pod12/abc');
    expect(podCgroup('cgroupfs', '/kubepods/burstable/pod12')).toBe('/kubepods/burstable/pod12');
  });
});
