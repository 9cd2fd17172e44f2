// Recovery after kill -9 of the daemon: 20 running containers keep running (same pid, same
// started_at) and keep logging without a gap; a container that exits while the daemon is down
// shows EXITED with its real exit code (from conmon's exit file); a created one is still startable.
// An exit the daemon's fs.watch never reported is still recorded, by the periodic sweep.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { createCtr, ctrConfig, parseCriLog, podConfig, runCtr, runPod, status, type ContainerImages, startPodFixture, stopPodFixture } from '../support/containers.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, processAlive as alive, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId: string;

const RUNNING = 20;

function ticks(path: string): number[] {
  return parseCriLog(readFileSync(path, 'utf8'))
    .map((l) => /^tick (\d+)$/.exec(l.text))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'restart'));
}, 120_000);

afterAll(async () => {
  await stopPodFixture({ d, registry, podId }, 120_000);
});

describe('daemon restart after kill -9', () => {
  it(`keeps ${RUNNING} running containers, records an exit that happened while down, and can start a created one`, async () => {
    const signalDir = t.dir().join('signal');
    mkdirSync(signalDir, { recursive: true });
    const running: string[] = [];
    for (let i = 0; i < RUNNING; i++) {
      running.push(await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done'])));
    }
    const exiting = await runCtr(
      d,
      podId,
      pod,
      ctrConfig(images.busybox, ['/bin/sh', '-c', 'while [ ! -f /signal/go ]; do sleep 0.05; done; exit 42'], {
        mounts: [{ container_path: '/signal', host_path: signalDir }],
      }),
    );
    const created = await createCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo late start; sleep 1000']));

    const before = new Map<string, { pid: number; startedAt: string; logPath: string }>();
    for (const id of [...running, exiting]) {
      const st = await status(d, id, true);
      const info = JSON.parse(st.info.info ?? '{}') as { pid: number };
      expect(st.status?.state).toBe('CONTAINER_RUNNING');
      before.set(id, { pid: info.pid, startedAt: st.status!.started_at, logPath: st.status!.log_path });
    }
    await waitFor('every container to log', () => running.every((id) => ticks(before.get(id)!.logPath).length > 2));

    await d.stop('SIGKILL');
    const killedAt = BigInt(Date.now()) * 1_000_000n;
    writeFileSync(`${signalDir}/go`, '');
    await waitFor('the exiting container to end while the daemon is down', () => !alive(before.get(exiting)!.pid));
    const ticksWhileDown = new Map(running.map((id) => [id, ticks(before.get(id)!.logPath).length]));
    await waitFor('the containers to keep logging while the daemon is down', () => running.every((id) => ticks(before.get(id)!.logPath).length > ticksWhileDown.get(id)! + 2));

    await d.start();
    for (const id of running) {
      const st = await status(d, id, true);
      const info = JSON.parse(st.info.info ?? '{}') as { pid: number };
      expect(st.status?.state).toBe('CONTAINER_RUNNING');
      expect(info.pid).toBe(before.get(id)!.pid);
      expect(st.status?.started_at).toBe(before.get(id)!.startedAt);
    }
    const ex = (await status(d, exiting)).status!;
    expect(ex.state).toBe('CONTAINER_EXITED');
    expect(ex.exit_code).toBe(42);
    expect(ex.reason).toBe('Error');
    expect(BigInt(ex.finished_at)).toBeGreaterThanOrEqual(killedAt - 1_000_000_000n);
    expect(BigInt(ex.finished_at)).toBeLessThanOrEqual(BigInt(Date.now()) * 1_000_000n);

    // Logs continue with no line lost across the restart.
    const counts = new Map(running.map((id) => [id, ticks(before.get(id)!.logPath).length]));
    await waitFor('logging to go on after the restart', () => running.every((id) => ticks(before.get(id)!.logPath).length > counts.get(id)! + 2));
    for (const id of running) {
      const seq = ticks(before.get(id)!.logPath);
      expect(seq).toEqual(seq.map((_, i) => i));
    }

    // Recovered containers take exec and stop as before.
    const r = await call(d.client.runtime, 'ExecSync', { container_id: running[0]!, cmd: ['echo', 'still here'], timeout: 10 });
    expect(r.stdout.toString()).toBe('still here\n');

    expect((await status(d, created)).status?.state).toBe('CONTAINER_CREATED');
    await call(d.client.runtime, 'StartContainer', { container_id: created });
    expect((await status(d, created)).status?.state).toBe('CONTAINER_RUNNING');

    const list = await call(d.client.runtime, 'ListContainers', { filter: { pod_sandbox_id: podId, state: { state: 'CONTAINER_RUNNING' } } });
    expect(list.containers.length).toBe(RUNNING + 1);

    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: podId }, 120_000);
    for (const id of running) expect(alive(before.get(id)!.pid)).toBe(false);
  }, 180_000);

  it('an OOM kill while the daemon is down shows as OOMKilled after the restart', async () => {
    const signalDir = t.dir().join('signal-oom');
    mkdirSync(signalDir, { recursive: true });
    const limit = 16 * 1024 * 1024;
    const oomPod = podConfig(t.dir());
    const oomPodId = await runPod(d, oomPod);
    const id = await runCtr(
      d,
      oomPodId,
      oomPod,
      ctrConfig(images.busybox, ['/bin/sh', '-c', 'while [ ! -f /signal/go ]; do sleep 0.05; done; x=$(head -c 200000000 /dev/zero | busybox tr "\\0" y)'], {
        mounts: [{ container_path: '/signal', host_path: signalDir }],
        linux: { resources: { memory_limit_in_bytes: limit, memory_swap_limit_in_bytes: limit } },
      }),
    );
    const pid = (JSON.parse((await status(d, id, true)).info.info ?? '{}') as { pid: number }).pid;
    await d.stop('SIGKILL');
    writeFileSync(`${signalDir}/go`, '');
    await waitFor('the container to be OOM-killed while the daemon is down', () => !alive(pid), 60_000);
    await d.start();
    const st = (await status(d, id)).status!;
    expect(st.state).toBe('CONTAINER_EXITED');
    expect(st.reason).toBe('OOMKilled');
    expect(st.exit_code).toBe(137);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: oomPodId });
  }, 120_000);

  it('a graceful stop (SIGTERM) of the daemon leaves containers running; the next daemon takes them over', async () => {
    const other = podConfig(t.dir());
    const otherId = await runPod(d, other);
    const id = await runCtr(d, otherId, other, ctrConfig(images.busybox, ['sleep', '1000']));
    const pid = (JSON.parse((await status(d, id, true)).info.info ?? '{}') as { pid: number }).pid;
    const exit = await d.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect(alive(pid)).toBe(true);
    await d.start();
    const st = await status(d, id, true);
    expect(st.status?.state).toBe('CONTAINER_RUNNING');
    expect((JSON.parse(st.info.info ?? '{}') as { pid: number }).pid).toBe(pid);
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    expect(alive(pid)).toBe(false);
    expect((await status(d, id)).status?.exit_code).toBe(137);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: otherId });
  }, 120_000);
});

describe('an exited container across kill -9, until its removal', () => {
  it('keeps exit code, reason, finishedAt and log; its runtime record and rootfs mount go after the exit; Remove leaves no dir', async () => {
    const signalDir = t.dir().join('signal-exited');
    mkdirSync(signalDir, { recursive: true });
    const cfg = d.config() as { rootDir: string; stateDir: string };
    const runcRoot = join(cfg.stateDir, 'runc');
    const mounted = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);
    const inRunc = (id: string): boolean => existsSync(join(runcRoot, id));
    const other = podConfig(t.dir());
    const otherId = await runPod(d, other);
    // One exits while the daemon runs, one while it is down.
    const before = await runCtr(d, otherId, other, ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo bye before; exit 5']));
    const during = await runCtr(
      d,
      otherId,
      other,
      ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo bye during; while [ ! -f /signal/go ]; do sleep 0.05; done; exit 9'], { mounts: [{ container_path: '/signal', host_path: signalDir }] }),
    );
    const where = new Map<string, { rootfs: string; bundle: string; pid: number }>();
    for (const id of [before, during]) where.set(id, JSON.parse((await status(d, id, true)).info.info ?? '{}') as { rootfs: string; bundle: string; pid: number });
    await waitFor('the first container to exit', async () => (await status(d, before)).status?.state === 'CONTAINER_EXITED');
    await waitFor('its runtime record and rootfs mount to go after the exit', () => !inRunc(before) && !mounted(where.get(before)!.rootfs));

    await d.stop('SIGKILL');
    writeFileSync(join(signalDir, 'go'), '');
    await waitFor('the second container to exit while the daemon is down', () => !alive(where.get(during)!.pid));
    await d.start();

    for (const [id, code, text] of [
      [before, 5, 'bye before'],
      [during, 9, 'bye during'],
    ] as const) {
      const st = (await status(d, id)).status!;
      expect(st.state).toBe('CONTAINER_EXITED');
      expect(st.exit_code).toBe(code);
      expect(st.reason).toBe('Error');
      // The exit file's mtime is the kernel's coarse clock; a fast exit is clamped to started_at, never before it.
      expect(BigInt(st.finished_at)).toBeGreaterThanOrEqual(BigInt(st.started_at));
      expect(parseCriLog(readFileSync(st.log_path, 'utf8')).map((l) => l.text)).toContain(text);
    }
    await waitFor('the runtime record and rootfs mount of the one that exited while down to go', () => !inRunc(during) && !mounted(where.get(during)!.rootfs));

    for (const id of [before, during]) {
      const logPath = (await status(d, id)).status!.log_path;
      await call(d.client.runtime, 'RemoveContainer', { container_id: id });
      expect(existsSync(join(cfg.rootDir, 'containers', id))).toBe(false);
      expect(existsSync(where.get(id)!.bundle)).toBe(false);
      expect(existsSync(logPath)).toBe(true); // the log is the kubelet's to delete
      await expect(status(d, id)).rejects.toMatchObject({ code: 5 });
    }
    await waitFor('the removed dirs to be deleted behind the removal', () =>
      [join(cfg.rootDir, 'container-trash'), join(cfg.stateDir, 'container-trash')].every((dir) => !existsSync(dir) || readdirSync(dir).length === 0),
    );
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: otherId });
  }, 120_000);
});

describe('an exit the exit-file watcher missed', () => {
  it('is recorded by the periodic sweep: EXITED with the real exit code', async () => {
    const signalDir = t.dir().join('signal-sweep');
    mkdirSync(signalDir, { recursive: true });
    const other = podConfig(t.dir());
    const otherId = await runPod(d, other);
    const id = await runCtr(
      d,
      otherId,
      other,
      ctrConfig(images.busybox, ['/bin/sh', '-c', 'while [ ! -f /signal/go ]; do sleep 0.05; done; exit 7'], { mounts: [{ container_path: '/signal', host_path: signalDir }] }),
    );
    // Blind the watcher: fs.watch follows the exit dir's inode, conmon writes by path into a new dir.
    const exits = join((d.config() as { stateDir: string }).stateDir, 'exits');
    renameSync(exits, `${exits}.watched`);
    mkdirSync(exits, { mode: 0o700 });
    try {
      writeFileSync(join(signalDir, 'go'), '');
      await waitFor('conmon to write the exit file the watcher cannot see', () => existsSync(join(exits, id)));
      const st = await waitFor(
        'the sweep to record the exit',
        async () => {
          const s = (await status(d, id)).status;
          return s?.state === 'CONTAINER_EXITED' ? s : undefined;
        },
        30_000,
      );
      expect(st.exit_code).toBe(7);
      expect(st.reason).toBe('Error');
      expect(d.logs().some((l) => l.containerId === id && typeof l.msg === 'string' && l.msg.startsWith('exit found by the periodic sweep'))).toBe(true);
    } finally {
      // Put the watched dir back with whatever landed meanwhile.
      renameSync(exits, `${exits}.missed`);
      renameSync(`${exits}.watched`, exits);
      for (const f of readdirSync(`${exits}.missed`)) renameSync(join(`${exits}.missed`, f), join(exits, f));
      rmdirSync(`${exits}.missed`);
    }
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: otherId });
  }, 60_000);
});

