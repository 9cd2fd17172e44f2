// Containers end to end, the rest of the CRI surface: hostPath mounts with propagation, resource
// updates visible in the cgroup, log reopening after the kubelet's rename, the event stream, the
// streamed list and the metrics. Real runc, conmon, overlayfs and a local registry.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { ContainerEventResponse__Output } from '../../src/cri/generated/runtime/v1/ContainerEventResponse.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { createCtr, ctrConfig, failure, parseCriLog, podConfig, pull, runCtr, runPod, status, type ContainerImages, startPodFixture, stopPodFixture } from '../support/containers.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId: string;
const hostMounts: string[] = [];

async function execSync(id: string, cmd: string[]) {
  return call(d.client.runtime, 'ExecSync', { container_id: id, cmd, timeout: 10 });
}

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'feat'));
}, 120_000);

afterAll(async () => {
  await stopPodFixture({ d, registry, podId }, 60_000);
  for (const m of hostMounts.reverse()) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
});

describe('mounts', () => {
  it('a hostPath mount with HOST_TO_CONTAINER propagation sees a mount made on the host after start', async () => {
    const vol = t.dir().join('shared-vol');
    mkdirSync(vol, { recursive: true });
    writeFileSync(join(vol, 'before.txt'), 'before\n');
    // The test's own shared mount point (the host's / is private on this machine).
    execFileSync('mount', ['--bind', vol, vol]);
    hostMounts.push(vol);
    execFileSync('mount', ['--make-shared', vol]);
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { mounts: [{ container_path: '/vol', host_path: vol, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }] }));
    expect((await execSync(id, ['cat', '/vol/before.txt'])).stdout.toString()).toBe('before\n');
    const sub = join(vol, 'sub');
    mkdirSync(sub);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', sub]);
    hostMounts.push(sub);
    writeFileSync(join(sub, 'late.txt'), 'propagated\n');
    expect((await execSync(id, ['cat', '/vol/sub/late.txt'])).stdout.toString()).toBe('propagated\n');
    const st = (await status(d, id)).status!;
    expect(st.mounts).toEqual([expect.objectContaining({ container_path: '/vol', host_path: vol, propagation: 'PROPAGATION_HOST_TO_CONTAINER' })]);
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    execFileSync('umount', [sub]);
    execFileSync('umount', [vol]);
    hostMounts.length = 0;
  });

  it('mounts images read-only as CRI image volumes (several layers, one layer, a sub path)', async () => {
    await pull(d, images.entry);
    const id = await runCtr(
      d,
      podId,
      pod,
      ctrConfig(images.busybox, ['sleep', '1000'], {
        mounts: [
          { container_path: '/img', image: { image: images.busybox } },
          { container_path: '/one', image: { image: images.entry } },
          { container_path: '/sub', image: { image: images.busybox }, image_sub_path: 'opaque' },
        ],
      }),
    );
    const r = await execSync(id, ['/bin/sh', '-c', 'cat /img/data/file.txt; ls /sub; test -x /one/bin/busybox && echo one-ok; touch /img/x 2>&1 || echo ro']);
    expect(r.stdout.toString()).toMatch(/^layer two\nnew\.txt\none-ok\n[\s\S]*ro\n$/);
    const info = JSON.parse((await status(d, id, true)).info.info ?? '{}') as { bundle: string };
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(`${info.bundle}/volumes/0 `);
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(info.bundle);
    const missing = await failure(createCtr(d, podId, pod, ctrConfig(images.busybox, ['true'], { mounts: [{ container_path: '/x', image: { image: `${registry.host}/test/none:1` } }] })));
    expect(missing.code).toBe(5);
  });

  it("the kubelet's termination-log file mount works both ways", async () => {
    const file = t.dir().join('termination-log');
    writeFileSync(file, '');
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo "last words" > /dev/termination-log'], { mounts: [{ container_path: '/dev/termination-log', host_path: file }] }));
    await waitFor('the container to exit', async () => (await status(d, id)).status?.state === 'CONTAINER_EXITED');
    expect(readFileSync(file, 'utf8')).toBe('last words\n');
  });

  it('refuses HOST_TO_CONTAINER propagation from a private host mount, naming the path', async () => {
    const vol = t.dir().join('private-vol');
    mkdirSync(vol, { recursive: true });
    const err = await failure(createCtr(d, podId, pod, ctrConfig(images.busybox, ['true'], { mounts: [{ container_path: '/vol', host_path: vol, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }] })));
    expect(err.code).toBe(9);
    expect(err.details).toContain(vol);
  });

  it('a read-only hostPath mount is read-only; a missing host path is created as a directory', async () => {
    const vol = t.dir().join('ro-vol');
    const fresh = t.dir().join('made-by-runtime');
    mkdirSync(vol, { recursive: true });
    const id = await runCtr(
      d,
      podId,
      pod,
      ctrConfig(images.busybox, ['sleep', '1000'], {
        mounts: [
          { container_path: '/ro', host_path: vol, readonly: true },
          { container_path: '/fresh', host_path: fresh },
        ],
      }),
    );
    const r = await execSync(id, ['/bin/sh', '-c', 'touch /ro/x 2>&1; echo rc=$?; touch /fresh/y && echo ok']);
    expect(r.stdout.toString()).toMatch(/Read-only file system[\s\S]*rc=1\nok\n$/);
    expect(existsSync(join(fresh, 'y'))).toBe(true);
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
  });
});

describe('UpdateContainerResources', () => {
  it('applies new limits through the runtime: visible in the cgroup and in ContainerStatus', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { linux: { resources: { memory_limit_in_bytes: 128 * 1024 * 1024 } } }));
    const info = JSON.parse((await status(d, id, true)).info.info ?? '{}') as { cgroupsPath: string };
    const memFile = join('/sys/fs/cgroup/memory', info.cgroupsPath, 'memory.limit_in_bytes');
    const quotaFile = join('/sys/fs/cgroup/cpu', info.cgroupsPath, 'cpu.cfs_quota_us');
    const sharesFile = join('/sys/fs/cgroup/cpu', info.cgroupsPath, 'cpu.shares');
    expect(readFileSync(memFile, 'utf8').trim()).toBe(String(128 * 1024 * 1024));
    await call(d.client.runtime, 'UpdateContainerResources', {
      container_id: id,
      linux: { memory_limit_in_bytes: 64 * 1024 * 1024, cpu_period: 100000, cpu_quota: 50000, cpu_shares: 512 },
    });
    expect(readFileSync(memFile, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    expect(readFileSync(quotaFile, 'utf8').trim()).toBe('50000');
    expect(readFileSync(sharesFile, 'utf8').trim()).toBe('512');
    const res = (await status(d, id)).status!.resources!.linux!;
    expect(res.memory_limit_in_bytes).toBe(String(64 * 1024 * 1024));
    expect(res.cpu_quota).toBe('50000');
    expect(res.cpu_shares).toBe('512');
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    const err = await failure(call(d.client.runtime, 'UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: 1 << 26 } }));
    expect(err.code).toBe(9);
  });
});

describe('ReopenContainerLog', () => {
  it('after the kubelet renamed the log, the monitor writes a new file at the same path and no line is lost', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done']));
    const logPath = (await status(d, id)).status!.log_path;
    await waitFor('some lines', () => existsSync(logPath) && parseCriLog(readFileSync(logPath, 'utf8')).length > 3);
    renameSync(logPath, `${logPath}.1`);
    await call(d.client.runtime, 'ReopenContainerLog', { container_id: id });
    await waitFor('the new log file to fill', () => existsSync(logPath) && parseCriLog(readFileSync(logPath, 'utf8')).length > 3);
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    const nums = (p: string) => parseCriLog(readFileSync(p, 'utf8')).map((l) => Number(/^line (\d+)$/.exec(l.text)?.[1]));
    const all = [...nums(`${logPath}.1`), ...nums(logPath)];
    expect(all).toEqual(all.map((_, i) => i));
    expect(nums(logPath)[0]).toBeGreaterThan(0);
    expect((await failure(call(d.client.runtime, 'ReopenContainerLog', { container_id: id }))).code).toBe(9);
  });
});

describe('GetContainerEvents', () => {
  const subscribe = () => {
    const events: ContainerEventResponse__Output[] = [];
    const stream = d.client.runtime.GetContainerEvents({});
    stream.on('data', (e: ContainerEventResponse__Output) => events.push(e));
    stream.on('error', () => undefined);
    return { events, stream };
  };

  it('streams CREATED, STARTED, STOPPED, DELETED in order to every subscriber, with pod and container statuses', async () => {
    const a = subscribe();
    const b = subscribe();
    // Both subscriptions are live once each has seen an event of a throwaway container.
    await waitFor('both subscriptions to be live', async () => {
      const warm = await createCtr(d, podId, pod, ctrConfig(images.busybox, ['true']));
      await call(d.client.runtime, 'RemoveContainer', { container_id: warm });
      return a.events.length > 0 && b.events.length > 0;
    });
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    for (const s of [a, b]) {
      const mine = await waitFor('four events', () => {
        const m = s.events.filter((e) => e.container_id === id);
        return m.length >= 4 ? m : undefined;
      });
      expect(mine.map((e) => e.container_event_type)).toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
      expect(mine.map((e) => e.containers_statuses.find((c) => c.id === id)?.state)).toEqual(['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_EXITED']);
      for (const e of mine) {
        expect(e.pod_sandbox_status?.id).toBe(podId);
        expect(BigInt(e.created_at)).toBeGreaterThan(0n);
      }
      s.stream.cancel();
    }
  });

  it('streams pod sandbox events too (the event id is the pod id)', async () => {
    const s = subscribe();
    await waitFor('the subscription to be live', async () => {
      const warm = await createCtr(d, podId, pod, ctrConfig(images.busybox, ['true']));
      await call(d.client.runtime, 'RemoveContainer', { container_id: warm });
      return s.events.length > 0;
    });
    const other = podConfig(t.dir());
    const otherId = await runPod(d, other);
    const c = await runCtr(d, otherId, other, ctrConfig(images.busybox, ['sleep', '1000']));
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: otherId });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: otherId });
    const podEvents = await waitFor('four pod events', () => {
      const m = s.events.filter((e) => e.container_id === otherId);
      return m.length >= 4 ? m : undefined;
    });
    expect(podEvents.map((e) => e.container_event_type)).toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
    expect(podEvents.map((e) => e.pod_sandbox_status?.state)).toEqual(['SANDBOX_READY', 'SANDBOX_READY', 'SANDBOX_NOTREADY', 'SANDBOX_NOTREADY']);
    expect(podEvents.every((e) => e.pod_sandbox_status?.id === otherId)).toBe(true);
    // The pod's container stopped (and was deleted) before the pod did.
    const ctrTypes = s.events.filter((e) => e.container_id === c).map((e) => e.container_event_type);
    expect(ctrTypes).toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
    const order = s.events.map((e) => `${e.container_id}:${e.container_event_type}`);
    expect(order.indexOf(`${c}:CONTAINER_STOPPED_EVENT`)).toBeLessThan(order.indexOf(`${otherId}:CONTAINER_STOPPED_EVENT`));
    s.stream.cancel();
  });
});

describe('lists and metrics', () => {
  it('StreamContainers returns what ListContainers does', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    const listed = (await call(d.client.runtime, 'ListContainers', {})).containers.map((c) => c.id).sort();
    const streamed: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = d.client.runtime.StreamContainers({});
      s.on('data', (r: { containers: { id: string }[] }) => streamed.push(...r.containers.map((c) => c.id)));
      s.on('end', resolve);
      s.on('error', reject);
    });
    expect(streamed.sort()).toEqual(listed);
    expect(listed).toContain(id);
  });

  it('exports containers by state and ExecSync metrics', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    await execSync(id, ['true']);
    const text = await (await fetch(`${d.metricsUrl}/metrics`)).text();
    const running = Number(/^nexcage_containers\{state="running"\} (\d+)$/m.exec(text)?.[1]);
    expect(running).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^nexcage_exec_sync_duration_seconds_count \d+$/m);
    expect(text).toMatch(/^nexcage_container_operation_duration_seconds_count\{operation="create"\} \d+$/m);
  });
});

describe('pod and container semantics', () => {
  async function logOf(id: string): Promise<string[]> {
    const st = await waitFor('the container to exit', async () => {
      const x = (await status(d, id)).status;
      return x?.state === 'CONTAINER_EXITED' ? x : undefined;
    });
    return parseCriLog(readFileSync(st.log_path, 'utf8')).map((l) => l.text);
  }

  it('creates a missing working directory', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'pwd'], { working_dir: '/not/there/yet' }));
    expect(await logOf(id)).toEqual(['/not/there/yet']);
  });

  it('mounts a host path that is a symlink to a directory', async () => {
    const real = t.dir().join('real-dir');
    mkdirSync(real, { recursive: true });
    writeFileSync(join(real, 'f.txt'), 'through the link\n');
    const link = t.dir().join('link-dir');
    symlinkSync(real, link);
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['cat', '/data/f.txt'], { mounts: [{ container_path: '/data', host_path: link }] }));
    expect(await logOf(id)).toEqual(['through the link']);
  });

  it('rejects recursive read-only mounts that are not read-only or not private', async () => {
    const vol = t.dir().join('rro-vol');
    mkdirSync(vol, { recursive: true });
    const bad = [
      { container_path: '/v', host_path: vol, readonly: false, recursive_read_only: true },
      { container_path: '/v', host_path: vol, readonly: true, recursive_read_only: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' as const },
    ];
    for (const m of bad) {
      const err = await failure(createCtr(d, podId, pod, ctrConfig(images.busybox, ['true'], { mounts: [m] })));
      expect(err.code).toBe(3);
      expect(err.details).toMatch(/recursive read-only/);
    }
  });

  it('pid namespace: CONTAINER gives the process pid 1, POD shares the pod pid namespace (the infra is pid 1)', async () => {
    const own = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo $$']));
    expect(await logOf(own)).toEqual(['1']);
    const shared = podConfig(t.dir(), { linux: { cgroup_parent: t.dir().cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } } });
    const sharedId = await runPod(d, shared);
    const c = await runCtr(d, sharedId, shared, ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo $$; cat /proc/1/cmdline | tr "\\0" " "']));
    const out = await logOf(c);
    expect(out[0]).not.toBe('1');
    expect(out[1]).toMatch(/pause|catatonit/);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: sharedId });
  });

  it('containers of one pod share its network namespace (localhost)', async () => {
    const server = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo hi-from-peer | nc -l -p 8088']));
    const out = await waitFor('the peer to answer on localhost', async () => {
      const r = await call(d.client.runtime, 'ExecSync', { container_id: server, cmd: ['true'], timeout: 5 });
      if (r.exit_code !== 0) return undefined;
      const client = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'nc 127.0.0.1 8088 </dev/null']));
      const text = await logOf(client);
      return text.includes('hi-from-peer') ? text : undefined;
    });
    expect(out).toContain('hi-from-peer');
  });

  it('keeps a container working when its image is removed, and frees the snapshots when the container goes', async () => {
    await pull(d, images.user);
    const id = await createCtr(d, podId, pod, ctrConfig(images.user, ['/bin/sh', '-c', 'id -u']));
    await call(d.client.image, 'RemoveImage', { image: { image: images.user } });
    expect((await call(d.client.image, 'ImageStatus', { image: { image: images.user } })).image).toBeNull();
    await call(d.client.runtime, 'StartContainer', { container_id: id });
    expect(await logOf(id)).toEqual(['1000']);
    const leases = () => readdirSync(join(d.config().rootDir as string, 'images', 'leases')).length;
    const before = leases();
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    expect(leases()).toBe(before - 1);
  });
});
