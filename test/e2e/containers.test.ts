// Containers end to end: the built daemon with real runc, conmon and overlayfs, images pulled from
// a local docker-registry (busybox-static test images). Lifecycle, CRI logs, exit reasons, stop
// semantics, ExecSync, users, read-only rootfs, idempotency and name conflicts, and a command
// missing from the image.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { createCtr, ctrConfig, failure, parseCriLog, podConfig, runCtr, runPod, status, type ContainerImages, startPodFixture, stopPodFixture } from '../support/containers.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, leftovers, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId: string;

async function exited(id: string, timeoutMs = 20_000) {
  return waitFor(
    `container ${id.slice(0, 12)} to exit`,
    async () => {
      const st = await status(d, id);
      return st.status?.state === 'CONTAINER_EXITED' ? st.status : undefined;
    },
    timeoutMs,
  );
}

async function execSync(id: string, cmd: string[], timeout = 10) {
  return call(d.client.runtime, 'ExecSync', { container_id: id, cmd, timeout }, 60_000);
}

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'ctr', 'all'));
}, 120_000);

afterAll(async () => {
  await stopPodFixture({ d, registry, podId });
});

describe('lifecycle and logs', () => {
  it('runs the command; stdout and stderr land in the CRI log in the exact format; exit 0 is Completed', async () => {
    const cfg = ctrConfig(images.busybox, ['/bin/sh', '-c', 'echo hello out; echo hello err >&2; printf no-newline'], { labels: { kind: 'hello' }, annotations: { note: 'a' } });
    const id = await createCtr(d, podId, pod, cfg);
    const created = await status(d, id);
    expect(created.status?.state).toBe('CONTAINER_CREATED');
    expect(created.status?.log_path).toBe(t.dir().join('logs', pod.metadata!.name!, cfg.log_path!));
    await call(d.client.runtime, 'StartContainer', { container_id: id });
    const st = await exited(id);
    expect(st.exit_code).toBe(0);
    expect(st.reason).toBe('Completed');
    expect(BigInt(st.started_at)).toBeGreaterThanOrEqual(BigInt(st.created_at));
    expect(BigInt(st.finished_at)).toBeGreaterThanOrEqual(BigInt(st.started_at));
    expect(st.labels).toEqual({ kind: 'hello' });
    expect(st.annotations).toEqual({ note: 'a' });
    expect(st.image?.image).toBe(images.busybox);
    expect(st.image_id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const lines = await waitFor('the log lines', () => {
      const l = parseCriLog(readFileSync(st.log_path, 'utf8'));
      return l.length >= 3 ? l : undefined;
    });
    const byStream = (s: string) => lines.filter((l) => l.stream === s).map((l) => `${l.tag} ${l.text}`);
    expect(byStream('stdout')).toEqual(['F hello out', 'P no-newline']);
    expect(byStream('stderr')).toEqual(['F hello err']);
  });

  it('splits a long line into partial (P) lines that join back to the original', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'head -c 40000 /dev/zero | busybox tr "\\0" x; echo; echo after']));
    const st = await exited(id);
    const lines = parseCriLog(readFileSync(st.log_path, 'utf8')).filter((l) => l.stream === 'stdout');
    const firstFull = lines.findIndex((l) => l.tag === 'F');
    expect(firstFull).toBeGreaterThan(0);
    expect(lines.slice(0, firstFull).every((l) => l.tag === 'P')).toBe(true);
    const joined = lines.slice(0, firstFull + 1).map((l) => l.text).join('');
    expect(joined.length).toBe(40000);
    expect(/^x+$/.test(joined)).toBe(true);
    expect(lines[firstFull + 1]).toMatchObject({ tag: 'F', text: 'after' });
  });

  it('reports a non-zero exit code with reason Error', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'exit 3']));
    const st = await exited(id);
    expect(st.exit_code).toBe(3);
    expect(st.reason).toBe('Error');
  });

  it('reports OOMKilled when the memory limit is exceeded', async () => {
    const limit = 16 * 1024 * 1024;
    const id = await runCtr(
      d,
      podId,
      pod,
      ctrConfig(images.busybox, ['/bin/sh', '-c', 'x=$(head -c 200000000 /dev/zero | busybox tr "\\0" y); echo survived'], {
        linux: { resources: { memory_limit_in_bytes: limit, memory_swap_limit_in_bytes: limit } },
      }),
    );
    const st = await exited(id, 60_000);
    expect(st.reason).toBe('OOMKilled');
    expect(st.exit_code).toBe(137);
  });

  it('merges image Entrypoint/Cmd, env and working dir, and uses the image StopSignal', async () => {
    const id = await runCtr(d, podId, pod, {
      ...ctrConfig(images.entry, []),
      envs: [{ key: 'OVERRIDE', value: Buffer.from('cri') }],
    });
    const st = await exited(id);
    expect(st.exit_code).toBe(0);
    const out = parseCriLog(readFileSync(st.log_path, 'utf8')).map((l) => l.text);
    expect(out).toEqual(['from-image-cmd', '/work']);
    expect(st.stop_signal).toBe('SIGUSR1');
    const args = await runCtr(d, podId, pod, { ...ctrConfig(images.entry, []), args: ['echo $FROM_IMAGE $OVERRIDE'], envs: [{ key: 'OVERRIDE', value: Buffer.from('cri') }] });
    const st2 = await exited(args);
    expect(parseCriLog(readFileSync(st2.log_path, 'utf8')).map((l) => l.text)).toEqual(['yes cri']);
  });
});

describe('stop', () => {
  it('sends SIGTERM and returns as soon as the process exits', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done']));
    const started = Date.now();
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 20 });
    expect(Date.now() - started).toBeLessThan(10_000);
    const st = (await status(d, id)).status!;
    expect(st.state).toBe('CONTAINER_EXITED');
    expect(st.exit_code).toBe(0);
  });

  it("sends the image's StopSignal, or the CRI stop_signal when given", async () => {
    const script = 'trap "echo got-usr1; exit 0" USR1; trap "echo got-usr2; exit 0" USR2; while true; do sleep 0.1; done';
    const fromImage = await runCtr(d, podId, pod, { ...ctrConfig(images.entry, []), args: [script] });
    const fromCri = await runCtr(d, podId, pod, { ...ctrConfig(images.entry, []), args: [script], stop_signal: 'SIGUSR2' });
    for (const id of [fromImage, fromCri]) await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 20 });
    const text = async (id: string) => parseCriLog(readFileSync((await status(d, id)).status!.log_path, 'utf8')).map((l) => l.text);
    expect(await text(fromImage)).toEqual(['got-usr1']);
    expect(await text(fromCri)).toEqual(['got-usr2']);
    expect((await status(d, fromCri)).status?.stop_signal).toBe('SIGUSR2');
  });

  it('waits the timeout for a process that ignores SIGTERM, then kills it (137)', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']));
    const started = Date.now();
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 2 });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(15_000);
    const st = (await status(d, id)).status!;
    expect(st.state).toBe('CONTAINER_EXITED');
    expect(st.exit_code).toBe(137);
    expect(st.reason).toBe('Error');
  });

  it('is idempotent, and so is remove, also for unknown ids (as critest expects)', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    expect((await status(d, id)).status?.state).toBe('CONTAINER_EXITED');
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    expect((await failure(status(d, id))).code).toBe(5);
    await call(d.client.runtime, 'StopContainer', { container_id: 'f'.repeat(64), timeout: 0 });
    await call(d.client.runtime, 'RemoveContainer', { container_id: 'f'.repeat(64) });
  });

  it('removes a running container (stopping it first) and unmounts its rootfs', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    const info = JSON.parse((await status(d, id, true)).info.info ?? '{}') as { rootfs: string; pid: number };
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(` ${info.rootfs} `);
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${info.rootfs} `);
    expect(() => process.kill(info.pid, 0)).toThrow();
    const list = await call(d.client.runtime, 'ListContainers', { filter: { id } });
    expect(list.containers).toEqual([]);
  });
});

describe('ExecSync', () => {
  let id: string;
  beforeAll(async () => {
    id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
  });

  it('returns stdout, stderr and the exit code', async () => {
    const r = await execSync(id, ['/bin/sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.exit_code).toBe(7);
  });

  it('a missing binary is a non-zero exit code with a message, not an RPC error', async () => {
    const r = await execSync(id, ['/no/such/binary']);
    expect(r.exit_code).not.toBe(0);
    expect(r.stderr.toString() + r.stdout.toString()).toMatch(/no such file|not found/i);
  });

  it('times out with DEADLINE_EXCEEDED and kills the command', async () => {
    const started = Date.now();
    const err = await failure(execSync(id, ['/bin/sh', '-c', 'echo $$ > /tmp/exec.pid; exec sleep 300'], 1));
    expect(err.code).toBe(4);
    expect(Date.now() - started).toBeLessThan(10_000);
    const pid = (await execSync(id, ['cat', '/tmp/exec.pid'])).stdout.toString().trim();
    expect(pid).toMatch(/^\d+$/);
    const ps = await waitFor('the timed-out command to be gone', async () => {
      const out = (await execSync(id, ['ps', '-o', 'pid,args'])).stdout.toString();
      return out.includes('sleep 300') ? undefined : out;
    });
    expect(ps).not.toContain('sleep 300');
  });

  it('caps output so the answer fits the 16 MiB message the kubelet accepts', async () => {
    const r = await execSync(id, ['/bin/sh', '-c', 'head -c 20000000 /dev/zero | busybox tr "\\0" a; echo done >&2']);
    expect(r.exit_code).toBe(0);
    expect(r.stdout.length + r.stderr.length).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(r.stdout.length).toBeGreaterThan(16 * 1024 * 1024 - 4096);
    expect(/^a+$/.test(r.stdout.toString())).toBe(true);
  });

  it('runs with the container env, user and working dir', async () => {
    const r = await execSync(id, ['/bin/sh', '-c', 'id -u; pwd; echo $PATH']);
    expect(r.stdout.toString().split('\n').slice(0, 2)).toEqual(['0', '/']);
  });

  it('refuses a container that is not running', async () => {
    const c = await createCtr(d, podId, pod, ctrConfig(images.busybox, ['true']));
    expect((await failure(execSync(c, ['true']))).code).toBe(9);
    await call(d.client.runtime, 'RemoveContainer', { container_id: c });
  });
});

describe('users and rootfs', () => {
  async function output(image: string, cmd: string[], sc: object = {}): Promise<string[]> {
    const id = await runCtr(d, podId, pod, ctrConfig(image, cmd, { linux: { security_context: sc } }));
    const st = await exited(id);
    return parseCriLog(readFileSync(st.log_path, 'utf8')).map((l) => l.text);
  }

  it('takes the user from the image (uid:gid and a name)', async () => {
    expect(await output(images.user, ['/bin/sh', '-c', 'id -u; id -g'])).toEqual(['1000', '1000']);
    expect(await output(images.userName, ['/bin/sh', '-c', 'id -u; id -g'])).toEqual(['1000', '1000']);
  });

  it('takes the user from run_as_user / run_as_group / run_as_username and reports it in status', async () => {
    expect(await output(images.busybox, ['/bin/sh', '-c', 'id -u; id -g'], { run_as_user: { value: 65534 }, run_as_group: { value: 65534 } })).toEqual(['65534', '65534']);
    expect(await output(images.busybox, ['/bin/sh', '-c', 'id -u'], { run_as_username: 'tester' })).toEqual(['1000']);
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['true'], { linux: { security_context: { run_as_user: { value: 1000 }, supplemental_groups: [4242] } } }));
    const st = (await status(d, id)).status!;
    expect(st.user?.linux?.uid).toBe('1000');
    expect(st.user?.linux?.supplemental_groups).toContain('4242');
  });

  it('a read-only rootfs rejects writes; a writable one takes them', async () => {
    const out = await output(images.busybox, ['/bin/sh', '-c', 'touch /newfile 2>&1 || echo refused'], { readonly_rootfs: true });
    expect(out.at(-1)).toBe('refused');
    expect(out.join(' ')).toMatch(/read-only/i);
    expect(await output(images.busybox, ['/bin/sh', '-c', 'touch /newfile && echo written'])).toEqual(['written']);
  });
});

describe('names and preconditions', () => {
  it('refuses a second container with the same name and attempt in the pod; the name is free again after remove', async () => {
    const cfg = ctrConfig(images.busybox, ['true']);
    const id = await createCtr(d, podId, pod, cfg);
    const err = await failure(createCtr(d, podId, pod, cfg));
    expect(err.code).toBe(6);
    expect(err.details).toContain(id);
    const next = await createCtr(d, podId, pod, { ...cfg, metadata: { name: cfg.metadata!.name!, attempt: 1 } });
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    const again = await createCtr(d, podId, pod, cfg);
    for (const c of [next, again]) await call(d.client.runtime, 'RemoveContainer', { container_id: c });
  });

  it('refuses an unknown image (NOT_FOUND) and an unknown or stopped pod', async () => {
    expect((await failure(createCtr(d, podId, pod, ctrConfig(`${registry.host}/test/nope:1`, ['true'])))).code).toBe(5);
    expect((await failure(createCtr(d, 'e'.repeat(64), pod, ctrConfig(images.busybox, ['true'])))).code).toBe(5);
    const other = podConfig(t.dir());
    const otherId = await runPod(d, other);
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: otherId });
    expect((await failure(createCtr(d, otherId, other, ctrConfig(images.busybox, ['true'])))).code).toBe(9);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: otherId });
  });

  it('StopPodSandbox stops the pod containers and RemovePodSandbox removes them', async () => {
    const other = podConfig(t.dir());
    const otherId = await runPod(d, other);
    const a = await runCtr(d, otherId, other, ctrConfig(images.busybox, ['sleep', '1000']));
    const b = await createCtr(d, otherId, other, ctrConfig(images.busybox, ['sleep', '1000']));
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: otherId });
    for (const c of [a, b]) expect((await status(d, c)).status?.state).toBe('CONTAINER_EXITED');
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: otherId });
    expect((await call(d.client.runtime, 'ListContainers', { filter: { pod_sandbox_id: otherId } })).containers).toEqual([]);
  });

  it('PodSandboxStatus carries the statuses of the pod containers', async () => {
    const other = podConfig(t.dir());
    const otherId = await runPod(d, other);
    const a = await runCtr(d, otherId, other, ctrConfig(images.busybox, ['sleep', '1000']));
    const b = await createCtr(d, otherId, other, ctrConfig(images.busybox, ['true']));
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: otherId });
    expect(Object.fromEntries(st.containers_statuses.map((c) => [c.id, c.state]))).toEqual({ [a]: 'CONTAINER_RUNNING', [b]: 'CONTAINER_CREATED' });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: otherId });
  });

  it('lists with filters: id prefix, state, pod and labels', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { labels: { filt: 'yes' } }));
    const list = async (filter: object) => (await call(d.client.runtime, 'ListContainers', { filter })).containers.map((c) => c.id);
    expect(await list({ id: id.slice(0, 10) })).toEqual([id]);
    expect(await list({ label_selector: { filt: 'yes' } })).toEqual([id]);
    expect(await list({ state: { state: 'CONTAINER_RUNNING' }, pod_sandbox_id: podId })).toContain(id);
    expect(await list({ state: { state: 'CONTAINER_EXITED' } })).not.toContain(id);
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    expect(await list({ state: { state: 'CONTAINER_EXITED' } })).toContain(id);
  });
});

describe('a command that is not in the image', () => {
  /** What a container leaves on the node: processes, mounts, runc state, cgroups, bundles, records, attach sockets, exit files. */
  function nodeState(): Set<string> {
    const ls = (dir: string, dirsOnly = false): string[] => {
      try {
        return readdirSync(dir, { withFileTypes: true })
          .filter((e) => !dirsOnly || e.isDirectory())
          .map((e) => join(dir, e.name));
      } catch {
        return [];
      }
    };
    const walk = (dir: string): string[] => ls(dir, true).flatMap((p) => [p, ...walk(p)]);
    const cgroups = ls('/sys/fs/cgroup', true).flatMap((ctrl) => walk(join(ctrl, t.dir().cgroupParent)));
    const cfg = d.config() as { rootDir: string; stateDir: string };
    const dirs = [join(cfg.stateDir, 'containers'), join(cfg.rootDir, 'containers'), join(cfg.stateDir, 'attach'), join(cfg.stateDir, 'exits')];
    return new Set([...leftovers(t.dir().path), ...cgroups, ...dirs.flatMap((dir) => ls(dir))]);
  }

  it("fails CreateContainer with FAILED_PRECONDITION naming the container, the command and runc's reason; leaves nothing; the retry with the same name runs", async () => {
    for (const command of [['/no/such/binary', '--flag'], ['nosuchcmd']]) {
      const cfg = ctrConfig(images.busybox, command);
      const before = nodeState();
      const err = await failure(createCtr(d, podId, pod, cfg));
      expect(err.code).toBe(9);
      expect(err.details).toContain(`container "${cfg.metadata!.name}" (attempt 0) in pod sandbox "${podId}"`);
      expect(err.details).toContain(`command "${command[0]}" not found in the container`);
      expect(err.details).toMatch(command[0]!.startsWith('/') ? /no such file or directory/ : /executable file not found in \$PATH/);
      expect([...nodeState()].filter((x) => !before.has(x))).toEqual([]);
      // The kubelet retries with the same name and attempt once the spec is fixed.
      const id = await runCtr(d, podId, pod, { ...cfg, command: ['/bin/sh', '-c', 'exit 0'] });
      expect([...nodeState()].filter((x) => !before.has(x))).not.toEqual([]); // the probe does see a container
      const st = await exited(id);
      expect(st.exit_code).toBe(0);
      expect(st.metadata).toEqual(cfg.metadata);
      await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    }
  });
});

