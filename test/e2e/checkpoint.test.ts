// CheckpointContainer and restore on real runc + CRIU (the private build scripts/install-criu.sh
// makes when the host's criu cannot dump on this kernel): a counter checkpointed while running
// keeps running; the archive has CRI-O's layout and checkpointctl's metadata; restored into a new
// pod it goes on from the checkpointed value with its writable layer, writes to its log, execs,
// stops and is removed; a TTY container and one with a TCP listener too; what cannot be
// checkpointed or restored is refused with a clear reason; kill -9 of the daemon during a
// checkpoint leaves the container running and no archive.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { createCtr, ctrConfig, failure, podConfig, pull, runCtr, runPod, status } from '../support/containers.js';
import { pushTestImages } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, REPO, processAlive, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
const CRICTL = '/work/shared/conformance/bin/crictl';
const CRIU = execFileSync(join(REPO, 'scripts/install-criu.sh'), ['--path'], { encoding: 'utf8' }).trim();
let registry: TestRegistry;
let busybox: string;
let d: Daemon;
const pods: string[] = [];

/** The counter's command: a writable-layer change of each kind first, then n=1, n=2, ... every 100 ms. */
const COUNTER = 'echo created > /marker; rm /data/file.txt; rm -r /opaque; mkdir /opaque; echo mine > /opaque/mine.txt; i=0; while true; do i=$((i+1)); echo "n=$i"; sleep 0.1; done';

/** The counter's values in a CRI log (a TTY's lines end in \r, which parseCriLog refuses). */
function counts(text: string, prefix = 'n'): number[] {
  const re = new RegExp(`^\\S+ stdout F ${prefix}=(\\d+)\\r?$`);
  return text
    .split('\n')
    .map((l) => re.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

function logCounts(path: string, prefix = 'n'): number[] {
  return existsSync(path) ? counts(readFileSync(path, 'utf8'), prefix) : [];
}

async function newPod(extra: Partial<PodSandboxConfig> = {}): Promise<{ id: string; config: PodSandboxConfig }> {
  const config = podConfig(t.dir(), extra);
  const id = await runPod(d, config);
  pods.push(id);
  return { id, config };
}

async function checkpoint(id: string, location: string, timeout = 60): Promise<void> {
  await call(d.client.runtime, 'CheckpointContainer', { container_id: id, location, timeout }, 120_000);
}

function tarList(archive: string): string[] {
  return execFileSync('tar', ['--list', '--file', archive], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
}

function tarRead(archive: string, member: string): string {
  return execFileSync('tar', ['--extract', '--to-stdout', '--file', archive, member], { encoding: 'utf8' });
}

async function execOut(id: string, cmd: string[]): Promise<string> {
  const r = await call(d.client.runtime, 'ExecSync', { container_id: id, cmd, timeout: 10 }, 30_000);
  expect(r.exit_code).toBe(0);
  return r.stdout.toString();
}

async function running(id: string): Promise<boolean> {
  return (await status(d, id)).status?.state === 'CONTAINER_RUNNING';
}

function restoreConfig(archive: string, name: string, extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return { metadata: { name, attempt: 0 }, image: { image: archive }, log_path: `${name}.log`, labels: { restored: 'yes' }, ...extra };
}

/** Stop (EXITED) and remove (gone from the list). */
async function stopAndRemove(id: string): Promise<void> {
  await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 1 }, 60_000);
  expect((await status(d, id)).status?.state).toBe('CONTAINER_EXITED');
  await call(d.client.runtime, 'RemoveContainer', { container_id: id }, 60_000);
  const left = await call(d.client.runtime, 'ListContainers', { filter: { id } });
  expect(left.containers).toEqual([]);
}

function readFromPod(ip: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ip, port });
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${ip}:${port}`));
    }, 5_000);
    sock.on('data', (b) => (out += b.toString()));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

async function podIp(id: string): Promise<string> {
  return (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })).status!.network!.ip;
}

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  await pushTestImages(registry.pushTarget);
  busybox = `${registry.host}/test/busybox:latest`;
  // The env layer wins over the file: `make test` exports NEXCAGE_CRIU_PATH.
  d = t.track(new Daemon(t.dir(), 'ckpt', { config: { criuPath: CRIU }, env: { NEXCAGE_CRIU_PATH: CRIU } }));
  await d.start();
  await pull(d, busybox);
  mkdirSync(t.dir().join('out'), { recursive: true });
}, 120_000);

afterAll(async () => {
  for (const id of pods) await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
  await d?.stop();
  await registry?.stop();
});

describe('checkpoint support', () => {
  it('verbose Status says checkpointing is available, with the CRIU binary and version', async () => {
    const st = await call(d.client.runtime, 'Status', { verbose: true });
    const info = JSON.parse(st.info.checkpoint ?? '{}') as { available: boolean; criu: string; version: string; reason: string };
    expect(info).toMatchObject({ available: true, reason: '' });
    expect(info.criu).toMatch(/criu$/);
    expect(Number(info.version.split('.')[0])).toBeGreaterThanOrEqual(4);
  });

  it('a daemon whose CRIU is missing says why in Status and refuses CheckpointContainer with FAILED_PRECONDITION', async () => {
    const other = t.track(new Daemon(t.dir(), 'nocriu', { config: { criuPath: '/nonexistent/criu' }, env: { NEXCAGE_CRIU_PATH: '/nonexistent/criu' } }));
    await other.start();
    try {
      const st = await call(other.client.runtime, 'Status', { verbose: true });
      const info = JSON.parse(st.info.checkpoint ?? '{}') as { available: boolean; reason: string };
      expect(info.available).toBe(false);
      expect(info.reason).toContain('"/nonexistent/criu" not found');
      await pull(other, busybox);
      const cfg = podConfig(t.dir());
      const podId = await runPod(other, cfg);
      try {
        const id = await runCtr(other, podId, cfg, ctrConfig(busybox, ['/bin/sh', '-c', 'sleep 1000']));
        const err = await failure(call(other.client.runtime, 'CheckpointContainer', { container_id: id, location: t.dir().join('out', 'never.tar'), timeout: 30 }));
        expect(err.code).toBe(grpcStatus.FAILED_PRECONDITION);
        expect(err.details).toContain('checkpointing is not available on this node');
        expect(err.details).toContain('/nonexistent/criu');
      } finally {
        await call(other.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: podId }, 60_000);
      }
    } finally {
      await other.stop();
    }
  });
});

describe('checkpoint and restore of a running counter', () => {
  let pod: { id: string; config: PodSandboxConfig };
  let original: string;
  const archive = (): string => t.dir().join('out', 'counter.tar');
  let checkpointed = 0;

  beforeAll(async () => {
    pod = await newPod();
    for (const side of ['a', 'b']) {
      mkdirSync(t.dir().join('vol', side), { recursive: true });
      writeFileSync(t.dir().join('vol', side, 'which'), `${side}\n`);
    }
    const mounts = [{ container_path: '/vol', host_path: t.dir().join('vol', 'a') }];
    original = await runCtr(d, pod.id, pod.config, ctrConfig(busybox, ['/bin/sh', '-c', COUNTER], { mounts }));
  }, 60_000);

  it('keeps the container running and writes an archive with the CRI-O layout and checkpointctl metadata', async () => {
    const st = await status(d, original);
    await waitFor('a few counts', () => logCounts(st.status!.log_path).length >= 5);
    await checkpoint(original, archive());
    expect(await running(original)).toBe(true);
    const after = logCounts(st.status!.log_path).at(-1)!;
    await waitFor('the original to go on counting', () => logCounts(st.status!.log_path).at(-1)! > after + 3);

    const members = tarList(archive());
    for (const m of ['checkpoint/', 'config.dump', 'spec.dump', 'rootfs-diff.tar', 'deleted.files', 'nexcage.dump', 'container.log', 'dump.log', 'stats-dump']) expect(members).toContain(m);
    expect(members.some((m) => /^checkpoint\/pages-\d+\.img$/.test(m))).toBe(true);
    expect(members.some((m) => /^checkpoint\/core-\d+\.img$/.test(m))).toBe(true);
    expect(statSync(archive()).mode & 0o777).toBe(0o600);
    // No temporary file is left beside it.
    expect(readdirSync(t.dir().join('out'))).toEqual(['counter.tar']);

    const config = JSON.parse(tarRead(archive(), 'config.dump')) as Record<string, unknown>;
    expect(config).toMatchObject({ id: original, name: expect.stringMatching(/^c\d+$/), rootfsImageName: busybox, rootfsImage: busybox, runtime: 'runc', restored: false });
    expect(config.rootfsImageRef).toMatch(/@sha256:[0-9a-f]{64}$/);
    for (const k of ['createdTime', 'checkpointedTime']) expect(String(config[k])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const spec = JSON.parse(tarRead(archive(), 'spec.dump')) as { annotations: Record<string, string>; process: { args: string[] } };
    // checkpointctl reads the container and pod names from these (its containerd case).
    expect(spec.annotations['io.kubernetes.cri.container-name']).toBe(config.name);
    expect(spec.annotations['io.kubernetes.cri.sandbox-name']).toBe(pod.config.metadata!.name);
    expect(spec.process.args).toEqual(['/bin/sh', '-c', COUNTER]);
    const deleted = JSON.parse(tarRead(archive(), 'deleted.files')) as string[];
    expect(deleted).toContain('/data/file.txt');
    expect(deleted).toContain('/opaque/new.txt'); // hidden by the re-created (opaque) directory
    const diffList = spawnSync('sh', ['-c', `tar --extract --to-stdout --file '${archive()}' rootfs-diff.tar | tar --list`], { encoding: 'utf8' }).stdout.split('\n');
    expect(diffList).toContain('marker');
    expect(diffList).toContain('opaque/mine.txt');
    const nexcage = JSON.parse(tarRead(archive(), 'nexcage.dump')) as { architecture: string; log: { bytes: number }; config: { metadata: { name: string } } };
    expect(nexcage.architecture).toBe('amd64');
    expect(nexcage.config.metadata.name).toBe(config.name);
    const savedLog = tarRead(archive(), 'container.log');
    expect(Buffer.byteLength(savedLog)).toBe(nexcage.log.bytes);
    checkpointed = counts(savedLog).at(-1)!;
    expect(counts(savedLog)).toEqual(Array.from({ length: checkpointed }, (_, i) => i + 1));
  });

  it('restored into a new pod it goes on from the checkpointed value with its writable layer, logs, execs, stops and is removed', async () => {
    const target = await newPod();
    const id = await createCtr(d, target.id, target.config, restoreConfig(archive(), 'restored', { mounts: [{ container_path: '/vol', host_path: t.dir().join('vol', 'b') }] }));
    const created = await status(d, id);
    expect(created.status?.state).toBe('CONTAINER_CREATED');
    expect(created.status?.image?.image).toBe(busybox);
    expect(created.status?.labels).toMatchObject({ restored: 'yes' });
    await call(d.client.runtime, 'StartContainer', { container_id: id }, 60_000);
    expect(await running(id)).toBe(true);
    const logPath = created.status!.log_path;
    expect(logPath).toBe(t.dir().join('logs', target.config.metadata!.name!, 'restored.log'));
    // The log holds the checkpointed lines, then the restored process's own: one unbroken count.
    const seen = await waitFor('the restored counter to go on', () => {
      const n = logCounts(logPath);
      return n.length > checkpointed + 5 ? n : undefined;
    });
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
    expect(await execOut(id, ['cat', '/marker'])).toBe('created\n');
    expect(await execOut(id, ['ls', '/opaque'])).toBe('mine.txt\n');
    expect((await call(d.client.runtime, 'ExecSync', { container_id: id, cmd: ['cat', '/data/file.txt'], timeout: 10 })).exit_code).not.toBe(0);
    // Its mount is re-bound to the request's host path, the pod's files are the new pod's.
    expect(await execOut(id, ['cat', '/vol/which'])).toBe('b\n');
    expect(await execOut(original, ['cat', '/vol/which'])).toBe('a\n');
    expect(await execOut(id, ['cat', '/etc/hostname'])).toBe(`${target.config.hostname}\n`);
    // It joined the new pod's UTS namespace (CRIU joins the pod's namespaces instead of its images').
    expect(await execOut(id, ['hostname'])).toBe(`${target.config.hostname}\n`);
    // A restored container checkpoints again.
    await checkpoint(id, t.dir().join('out', 'again.tar'));
    expect(JSON.parse(tarRead(t.dir().join('out', 'again.tar'), 'config.dump'))).toMatchObject({ id, restored: true });
    expect(await running(original)).toBe(true);
    await stopAndRemove(id);
  });

  it('StopContainer/RemoveContainer of a restore that was never started finish at once', async () => {
    const target = await newPod();
    const id = await createCtr(d, target.id, target.config, restoreConfig(archive(), 'never-started'));
    const started = Date.now();
    await stopAndRemove(id);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses the checkpoint of an exited container with FAILED_PRECONDITION', async () => {
    const id = await runCtr(d, pod.id, pod.config, ctrConfig(busybox, ['/bin/true']));
    await waitFor('the container to exit', async () => (await status(d, id)).status?.state === 'CONTAINER_EXITED');
    const err = await failure(checkpoint(id, t.dir().join('out', 'exited.tar')));
    expect(err.code).toBe(grpcStatus.FAILED_PRECONDITION);
    expect(err.details).toContain('is EXITED; only a running container can be checkpointed');
    expect(existsSync(t.dir().join('out', 'exited.tar'))).toBe(false);
  });

  it('refuses bad requests clearly', async () => {
    const rel = await failure(checkpoint(original, 'relative.tar'));
    expect(rel.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(rel.details).toContain('must be an absolute path');
    const nodir = await failure(checkpoint(original, t.dir().join('missing-dir', 'x.tar')));
    expect(nodir.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(nodir.details).toContain('does not exist');
    const none = await failure(checkpoint(original, ''));
    expect(none.code).toBe(grpcStatus.INVALID_ARGUMENT);
    const unknown = await failure(checkpoint('f00d'.repeat(16), t.dir().join('out', 'x.tar')));
    expect(unknown.code).toBe(grpcStatus.NOT_FOUND);
  });

  it('refuses a corrupt archive and a checkpoint of another architecture with INVALID_ARGUMENT', async () => {
    const target = await newPod();
    const bad = t.dir().join('out', 'garbage.tar');
    writeFileSync(bad, 'this is not a checkpoint\n'.repeat(100));
    const garbage = await failure(createCtr(d, target.id, target.config, restoreConfig(bad, 'garbage')));
    expect(garbage.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(garbage.details).toContain('not a readable tar archive');

    // Repacked with one member missing, and with CRIU's core images saying arm64.
    const work = t.dir().join('repack');
    mkdirSync(work, { recursive: true });
    execFileSync('tar', ['--extract', '--file', archive(), '--directory', work]);
    const partial = t.dir().join('out', 'no-nexcage.tar');
    execFileSync('sh', ['-c', `cd '${work}' && tar --create --file '${partial}' --exclude nexcage.dump .`]);
    const missing = await failure(createCtr(d, target.id, target.config, restoreConfig(partial, 'partial')));
    expect(missing.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(missing.details).toContain('nexcage.dump');
    for (const core of readdirSync(join(work, 'checkpoint')).filter((f) => /^core-\d+\.img$/.test(f))) {
      const img = readFileSync(join(work, 'checkpoint', core));
      // magic, magic, size, then the CoreEntry: field 1 (mtype) = 1 (X86_64) -> 3 (AARCH64)
      expect([img[12], img[13]]).toEqual([0x08, 0x01]);
      img[13] = 0x03;
      writeFileSync(join(work, 'checkpoint', core), img);
    }
    const arm = t.dir().join('out', 'arm64.tar');
    execFileSync('tar', ['--create', '--file', arm, '--directory', work, '.']);
    const other = await failure(createCtr(d, target.id, target.config, restoreConfig(arm, 'arm')));
    expect(other.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(other.details).toMatch(/dumped on arm64 .*this node is amd64/);
  });

  it('crictl checkpoint --export writes the archive', () => {
    const out = t.dir().join('out', 'crictl.tar');
    const r = spawnSync(CRICTL, ['--runtime-endpoint', `unix://${d.socket}`, '--timeout', '60s', 'checkpoint', `--export=${out}`, original], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(original);
    expect(tarList(out)).toContain('checkpoint/');
  });
});

describe('containers with a TTY and with a TCP listener', () => {
  it('a TTY container is checkpointed and restored, and goes on counting', async () => {
    const pod = await newPod();
    const id = await runCtr(d, pod.id, pod.config, ctrConfig(busybox, ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo "t=$i"; sleep 0.1; done'], { tty: true, stdin: true }));
    const logPath = (await status(d, id)).status!.log_path;
    await waitFor('a few counts', () => logCounts(logPath, 't').length >= 3);
    const archive = t.dir().join('out', 'tty.tar');
    await checkpoint(id, archive);
    expect(await running(id)).toBe(true);
    const saved = counts(tarRead(archive, 'container.log'), 't').at(-1)!;
    const target = await newPod();
    const rid = await createCtr(d, target.id, target.config, restoreConfig(archive, 'tty-restored'));
    await call(d.client.runtime, 'StartContainer', { container_id: rid }, 60_000);
    const restoredLog = (await status(d, rid)).status!.log_path;
    const seen = await waitFor('the restored TTY counter to go on', () => {
      const n = logCounts(restoredLog, 't');
      return n.length > saved + 3 ? n : undefined;
    });
    // The checkpointed lines, then the restored process's: it goes on from where it was. Output
    // still queued in the terminal at the dump (conmon holds the other end) is not restored.
    expect(seen.slice(0, saved)).toEqual(Array.from({ length: saved }, (_, i) => i + 1));
    const after = seen.slice(saved);
    expect(after[0]).toBeGreaterThan(saved);
    expect(after[0]).toBeLessThanOrEqual(saved + 2);
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => after[0]! + i));
    await stopAndRemove(rid);
  });

  it('a container listening on TCP is restored into a new pod and answers on the new pod IP', async () => {
    const pod = await newPod();
    const id = await runCtr(d, pod.id, pod.config, ctrConfig(busybox, ['/bin/sh', '-c', 'busybox nc -ll -p 8080 -e /bin/echo hi & i=0; while true; do i=$((i+1)); echo "n=$i"; sleep 0.1; done']));
    const ip = await podIp(pod.id);
    expect(await waitFor('the listener', () => readFromPod(ip, 8080).catch(() => undefined))).toBe('hi\n');
    const archive = t.dir().join('out', 'listener.tar');
    await checkpoint(id, archive);
    expect(await readFromPod(ip, 8080)).toBe('hi\n');
    const target = await newPod();
    const rid = await createCtr(d, target.id, target.config, restoreConfig(archive, 'listener-restored'));
    await call(d.client.runtime, 'StartContainer', { container_id: rid }, 60_000);
    const newIp = await podIp(target.id);
    expect(newIp).not.toBe(ip);
    expect(await readFromPod(newIp, 8080)).toBe('hi\n');
    expect(await readFromPod(newIp, 8080)).toBe('hi\n');
    await stopAndRemove(rid);
  });
});

describe('restores that fail', () => {
  it('a restore whose CRIU images are damaged fails at StartContainer saying why; the container is EXITED (StartError), nothing of it is left running', async () => {
    const pod = await newPod();
    const id = await runCtr(d, pod.id, pod.config, ctrConfig(busybox, ['/bin/sh', '-c', COUNTER]));
    const logPath = (await status(d, id)).status!.log_path;
    await waitFor('a few counts', () => logCounts(logPath).length >= 3);
    const archive = t.dir().join('out', 'damaged.tar');
    await checkpoint(id, archive);
    const target = await newPod();
    const rid = await createCtr(d, target.id, target.config, restoreConfig(archive, 'damaged'));
    const images = t.dir().join('ckpt', 'root', 'containers', rid, 'restore', 'checkpoint');
    for (const f of readdirSync(images).filter((n) => /^core-\d+\.img$/.test(n))) writeFileSync(join(images, f), '');
    const err = await failure(call(d.client.runtime, 'StartContainer', { container_id: rid }, 60_000));
    expect(err.code).toBe(grpcStatus.FAILED_PRECONDITION);
    expect(err.details).toMatch(/^restoring container "[0-9a-f]{64}" from ".*damaged\.tar" failed: .*Error/);
    const st = (await status(d, rid)).status!;
    expect([st.state, st.reason]).toEqual(['CONTAINER_EXITED', 'StartError']);
    await call(d.client.runtime, 'RemoveContainer', { container_id: rid }, 60_000);
    expect(await running(id)).toBe(true);
  });
});

describe('checkpoints that do not finish', () => {
  it('one that runs out of its timeout is DEADLINE_EXCEEDED; the container runs on and no archive is left', async () => {
    const pod = await newPod();
    // 60 MB of random data on the container's /dev tmpfs: CRIU archives it, which takes seconds here.
    const cmd = `busybox dd if=/dev/urandom of=/dev/big bs=1M count=60 2>/dev/null; ${COUNTER}`;
    const id = await runCtr(d, pod.id, pod.config, ctrConfig(busybox, ['/bin/sh', '-c', cmd]));
    const logPath = (await status(d, id)).status!.log_path;
    await waitFor('the counter', () => logCounts(logPath).length >= 3, 30_000);
    const location = t.dir().join('out', 'late.tar');
    const started = Date.now();
    const err = await failure(checkpoint(id, location, 1));
    expect(err.code).toBe(grpcStatus.DEADLINE_EXCEEDED);
    expect(err.details).toContain('did not finish within 1 s');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(readdirSync(t.dir().join('out')).filter((n) => n.includes('late'))).toEqual([]);
    expect(await running(id)).toBe(true);
    const before = logCounts(logPath).at(-1)!;
    await waitFor('the container to count on (not left frozen)', () => logCounts(logPath).at(-1)! > before + 3, 30_000);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: pod.id }, 60_000);
  });
});

describe('daemon killed during a checkpoint', () => {
  it('leaves the container running (not frozen) and no archive; the restarted daemon cleans up', async () => {
    const pod = await newPod();
    // 48 MB of random data on the container's /dev tmpfs: CRIU archives it, so the dump takes a while.
    const cmd = `busybox dd if=/dev/urandom of=/dev/big bs=1M count=48 2>/dev/null; ${COUNTER}`;
    const id = await runCtr(d, pod.id, pod.config, ctrConfig(busybox, ['/bin/sh', '-c', cmd]));
    const st = await status(d, id, true);
    const logPath = st.status!.log_path;
    await waitFor('the counter', () => logCounts(logPath).length >= 3, 30_000);
    const location = t.dir().join('out', 'killed.tar');
    const pending = checkpoint(id, location).catch((e: unknown) => e);
    const root = t.dir().join('ckpt', 'root', 'checkpoints');
    await waitFor('the CRIU dump to be running', () => spawnSync('pgrep', ['-f', `checkpoint --image-path ${root}`]).status === 0, 30_000);
    await d.stop('SIGKILL');
    try {
      await pending;
      expect(existsSync(location)).toBe(false);
      // The checkpoint helper resumes it once CRIU is done, without the daemon: it goes on counting.
      const before = logCounts(logPath).at(-1)!;
      await waitFor('the container to count on with the daemon down', () => logCounts(logPath).at(-1)! > before + 3, 60_000);
      expect(spawnSync('pgrep', ['-f', `checkpoint --image-path ${root}`]).status).not.toBe(0);
    } finally {
      await d.start();
    }
    expect(await running(id)).toBe(true);
    expect(readdirSync(t.dir().join('out')).filter((n) => n.includes('killed'))).toEqual([]);
    expect(existsSync(root) ? readdirSync(root) : []).toEqual([]);
    const info = JSON.parse((await status(d, id, true)).info.info ?? '{}') as { pid: number };
    expect(processAlive(info.pid)).toBe(true);
    const now = logCounts(logPath).at(-1)!;
    await waitFor('counting after the restart', () => logCounts(logPath).at(-1)! > now + 2);
  });
});
