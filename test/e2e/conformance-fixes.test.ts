// What critest v1.34 and the kubelet send that once stopped real pods, end to end on real runc,
// conmon and CNI: hugepage limits on a node without the hugetlb controller, ReopenContainerLog
// returning only once the new file exists, run_as_group without a user, and SupplementalGroupsPolicy
// (claimed in Status, the effective user in ContainerStatus, kept across a daemon restart).
// (Port mappings with host_port 0 are in sandbox.test.ts.)
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { buildImage, busyboxEntries, layer, pushImage } from '../support/image-builder.js';
import { createCtr, ctrConfig, failure, parseCriLog, podConfig, pull, runCtr, runPod, status, type ContainerImages, startPodFixture, stopPodFixture } from '../support/containers.js';
import { TestRegistry } from '../support/registry.js';
import { type Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId: string;

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'conf'));
}, 120_000);

afterAll(async () => {
  await stopPodFixture({ d, registry, podId }, 60_000);
});

/** Whether this node has a usable hugetlb controller, read independently of the daemon's probe. */
function nodeHasHugetlb(): boolean {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('hugetlb');
  // /proc/cgroups: hierarchy id 0 = the v1 controller is attached to no mounted hierarchy
  const row = readFileSync('/proc/cgroups', 'utf8').split('\n').find((l) => l.startsWith('hugetlb\t'));
  return row !== undefined && row.split('\t')[1] !== '0';
}

const HUGEPAGES = [
  { page_size: '2MB', limit: 0 },
  { page_size: '1GB', limit: 0 },
];

describe('hugepage limits', () => {
  it('a container with hugepage_limits for every page size (limit 0, as the kubelet sends) starts; dropped without the hugetlb controller, said once', async () => {
    const present = nodeHasHugetlb();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      ids.push(await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { linux: { resources: { memory_limit_in_bytes: 64 << 20, hugepage_limits: HUGEPAGES } } })));
    }
    for (const id of ids) {
      expect((await status(d, id)).status?.state).toBe('CONTAINER_RUNNING');
      expect((await call(d.client.runtime, 'ExecSync', { container_id: id, cmd: ['echo', 'ok'], timeout: 10 })).stdout.toString()).toBe('ok\n');
      const spec = (JSON.parse((await status(d, id, true)).info.info ?? '{}') as { runtimeSpec: { linux: { resources: { hugepageLimits?: unknown[]; memory?: { limit: number } } } } }).runtimeSpec;
      expect(spec.linux.resources.memory?.limit).toBe(64 << 20);
      if (present) expect(spec.linux.resources.hugepageLimits).toEqual([{ pageSize: '2MB', limit: 0 }, { pageSize: '1GB', limit: 0 }]);
      else expect(spec.linux.resources.hugepageLimits).toBeUndefined();
    }
    // UpdateContainerResources carries them too (runc update).
    await call(d.client.runtime, 'UpdateContainerResources', { container_id: ids[0]!, linux: { memory_limit_in_bytes: 96 << 20, hugepage_limits: HUGEPAGES } });
    expect((await status(d, ids[0]!)).status?.resources?.linux?.memory_limit_in_bytes).toBe(String(96 << 20));
    // Pod-level resources with hugepages too.
    const hugePod = await runPod(d, podConfig(t.dir(), { linux: { ...pod.linux, resources: { memory_limit_in_bytes: 128 << 20, hugepage_limits: HUGEPAGES } } }));
    expect((await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: hugePod })).status?.state).toBe('SANDBOX_READY');
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: hugePod });

    const warnings = d.logs().filter((l) => typeof l.msg === 'string' && l.msg.includes('no hugetlb cgroup controller'));
    expect(warnings.map((l) => l.level)).toEqual(present ? [] : [40]);
    const info = JSON.parse((await call(d.client.runtime, 'Status', { verbose: true })).info.hugetlb ?? '{}') as { controller: boolean; hugepageLimits: string };
    expect(info).toMatchObject({ controller: present, hugepageLimits: present ? 'applied' : 'dropped' });
    for (const id of ids) await call(d.client.runtime, 'RemoveContainer', { container_id: id });
  });

  it('still refuses a page size that is not like 2MB or 1GB', async () => {
    const err = await failure(createCtr(d, podId, pod, ctrConfig(images.busybox, ['true'], { linux: { resources: { hugepage_limits: [{ page_size: '2mb', limit: 0 }] } } })));
    expect(err.code).toBe(3);
    expect(err.details).toContain('"2mb"');
  });
});

describe('ReopenContainerLog', () => {
  it('returns only once the new log file exists, every time (rotated five times in a row)', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.02; done']));
    const logPath = (await status(d, id)).status!.log_path;
    await waitFor('the first lines', () => existsSync(logPath) && parseCriLog(readFileSync(logPath, 'utf8')).length > 0);
    for (let i = 1; i <= 5; i++) {
      renameSync(logPath, `${logPath}.${i}`);
      await call(d.client.runtime, 'ReopenContainerLog', { container_id: id });
      // No waiting: the file must be there when the call returns (critest checks right away).
      expect(existsSync(logPath), `log file after reopen #${i}`).toBe(true);
    }
    // The container keeps logging into the new file.
    await waitFor('lines in the newest file', () => parseCriLog(readFileSync(logPath, 'utf8')).length > 0);
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
  });
});

describe('run_as_group without a user', () => {
  it('CreateContainer and RunPodSandbox refuse it with INVALID_ARGUMENT naming the field; with run_as_user it runs', async () => {
    const bad = await failure(createCtr(d, podId, pod, ctrConfig(images.busybox, ['id'], { linux: { security_context: { run_as_group: { value: 1000 } } } })));
    expect(bad.code).toBe(3);
    expect(bad.details).toContain('run_as_group is set without run_as_user');
    const badPod = podConfig(t.dir(), { linux: { ...pod.linux, security_context: { ...pod.linux?.security_context, run_as_group: { value: 1000 } } } });
    const podErr = await failure(runPod(d, badPod));
    expect(podErr.code).toBe(3);
    expect(podErr.details).toContain('run_as_group is set without run_as_user');

    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { linux: { security_context: { run_as_user: { value: 1000 }, run_as_group: { value: 3000 } } } }));
    expect((await status(d, id)).status?.user?.linux).toMatchObject({ uid: '1000', gid: '3000' });
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
  });
});

describe('SupplementalGroupsPolicy', () => {
  // critest's image: user 1000 is a member of group 50000 in the image's /etc/group.
  let predefined = '';
  beforeAll(async () => {
    const entries = busyboxEntries().map((e) =>
      e.path === 'etc/group' ? { ...e, content: 'root:x:0:\nnogroup:x:65534:\ntester:x:1000:\ngroup-defined-in-image:x:50000:tester\n' } : e,
    );
    await pushImage(registry.pushTarget, 'test/predefined-group', ['latest'], buildImage({ layers: [await layer(entries)], config: { User: '1000' } }));
    predefined = `${registry.host}/test/predefined-group:latest`;
    await pull(d, predefined);
  }, 60_000);

  it('is claimed in Status features', async () => {
    expect((await call(d.client.runtime, 'Status', {})).features).toMatchObject({ supplemental_groups_policy: true });
  });

  it('Merge adds the image groups, Strict does not; ContainerStatus.user is the effective user, also after a daemon restart', async () => {
    const run = async (policy: 'Merge' | 'Strict') => {
      const cfg = ctrConfig(predefined, ['sh', '-c', 'id -G; sleep 1000'], {
        linux: { security_context: { run_as_user: { value: 1000 }, supplemental_groups: [1234], supplemental_groups_policy: policy } },
      });
      const id = await runCtr(d, podId, pod, cfg);
      return { id, logPath: (await status(d, id)).status!.log_path };
    };
    const merge = await run('Merge');
    const strict = await run('Strict');
    const expected = { [merge.id]: ['1000', '1234', '50000'], [strict.id]: ['1000', '1234'] };
    const check = async (): Promise<void> => {
      for (const c of [merge, strict]) {
        const user = (await status(d, c.id)).status?.user?.linux;
        expect({ uid: user?.uid, gid: user?.gid, groups: [...(user?.supplemental_groups ?? [])].sort() }).toEqual({ uid: '1000', gid: '1000', groups: expected[c.id] });
        // What the processes really hold: the first one (its log) and an exec'd one.
        const first = await waitFor('the id -G line', () => parseCriLog(readFileSync(c.logPath, 'utf8'))[0]?.text);
        expect(first).toBe(expected[c.id]!.join(' '));
        expect((await call(d.client.runtime, 'ExecSync', { container_id: c.id, cmd: ['id', '-G'], timeout: 10 })).stdout.toString()).toBe(`${expected[c.id]!.join(' ')}\n`);
      }
    };
    await check();
    await d.stop();
    await d.start();
    await check();
    for (const c of [merge, strict]) await call(d.client.runtime, 'RemoveContainer', { container_id: c.id });
  });
});
