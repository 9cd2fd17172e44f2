// The stats path on real runc containers (live, this v1 host): containers made by `runc run` with the
// cgroupsPath the OCI spec builder writes, read through StatsService and the ContainerStatsSource
// seam the container service implements: a CPU burner near one core, 64 MiB held shows in the
// working set, 10 MB written raises the writable layer, pod figures cover their containers. Everything is removed after.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskUsageCache } from '../../lib/disk-usage.js';
import { run } from '../../lib/exec.js';
import { silentLogger } from '../../lib/log.js';
import { cgroupsPathFor } from '../oci-spec/resources.js';
import { CgroupReader } from './cgroup-reader.js';
import { detectCgroupLayout } from './cgroup-paths.js';
import type { StatsContainerInfo, StatsSandboxInfo } from './provider.js';
import { StatsService } from './stats-service.js';

const tag = randomBytes(3).toString('hex');
const PARENT = `/nexcage-test-${tag}`;
const POD = `${PARENT}/pod1`;
const layout = detectCgroupLayout();
let dir: string;
let runcRoot: string;
const ids: string[] = [];
const containers: StatsContainerInfo[] = [];
const pod: StatsSandboxInfo = { id: 'pod1', metadata: { name: 'stats-pod', uid: 'u1', namespace: 'live', attempt: 0 }, labels: {}, annotations: {}, ready: true, cgroupParent: POD };
let stats: StatsService;

/** A busybox rootfs and a runc bundle running `script` under the builder's cgroupsPath. */
async function startContainer(name: string, script: string): Promise<StatsContainerInfo> {
  const id = `${name}-${tag}`;
  const bundle = join(dir, id);
  const rootfs = join(bundle, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await symlink('busybox', join(rootfs, 'bin/sh'));
  for (const d of ['proc', 'dev', 'tmp', 'data']) await mkdir(join(rootfs, d));
  await run('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { readonly: boolean };
    linux: { cgroupsPath?: string };
  };
  spec.process.terminal = false;
  spec.process.args = ['/bin/busybox', 'sh', '-c', script];
  spec.root.readonly = false;
  spec.linux.cgroupsPath = cgroupsPathFor('cgroupfs', POD, id);
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  // detached: the container keeps runc's stdio, so give it /dev/null rather than our pipes
  await new Promise<void>((resolve, reject) => {
    const p = spawn('runc', ['--root', runcRoot, 'run', '-d', '--bundle', bundle, id], { stdio: 'ignore' });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc run ${id}: exit ${code}`))));
  });
  ids.push(id);
  const info: StatsContainerInfo = {
    id,
    podSandboxId: 'pod1',
    metadata: { name, attempt: 0 },
    labels: { role: name },
    annotations: {},
    image: 'busybox',
    state: 'running',
    cgroupsPath: spec.linux.cgroupsPath,
    upperDir: rootfs, // runc has no overlay here: the rootfs dir plays the writable layer
  };
  containers.push(info);
  return info;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nexcage-stats-runc-'));
  runcRoot = join(dir, 'runc');
  stats = new StatsService({
    reader: new CgroupReader(layout, 'cgroupfs'),
    diskUsage: new DiskUsageCache({ refreshMs: 200 }),
    writableLayerMountpoint: '/',
    log: silentLogger(),
  });
  stats.setContainerSource({ listContainers: () => containers, getContainer: (id) => containers.find((c) => c.id === id) });
  stats.setSandboxSource({ listSandboxes: () => [pod], getSandbox: (id) => (id === 'pod1' ? pod : undefined) });
  stats.start(); // background layer walks and CPU samples, as in the daemon
  await startContainer('burn', 'while :; do :; done');
  await startContainer('hog', 'dd if=/dev/zero of=/dev/shm/hog bs=1M count=64 2>/dev/null; sleep 600');
  await startContainer('writer', 'sleep 600');
});

afterAll(async () => {
  await stats?.stop();
  for (const id of ids) {
    await run('runc', ['--root', runcRoot, 'kill', id, 'KILL'], { allowFailure: true });
    await run('runc', ['--root', runcRoot, 'delete', '--force', id], { allowFailure: true });
  }
  // runc makes the parents in every mounted hierarchy (cpuset, devices, freezer, name=systemd... too)
  const hierarchies = readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}`);
  for (const cg of [POD, PARENT]) {
    for (const h of hierarchies) {
      const d = `${h}${cg}`;
      for (let i = 0; existsSync(d) && i < 50; i++) {
        try {
          rmdirSync(d);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(existsSync(d), `cgroup ${d} removed`).toBe(false);
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('stats of runc containers (live)', () => {
  it('a CPU burner shows usage_nano_cores near one core', async () => {
    const id = ids[0]!;
    await until('a first rate window', async () => ((await stats.containerStats(id)).usageNanoCores !== undefined ? true : undefined));
    // the next full window, well after start-up
    await new Promise((r) => setTimeout(r, 2000));
    const r = await stats.containerStats(id);
    expect(r.cgroupPath).toBe(`${POD}/${id}`);
    // generous: 2 cores shared with the other containers here and other work on this machine
    expect(r.usageNanoCores).toBeGreaterThan(0.15e9);
    expect(r.usageNanoCores).toBeLessThan(1.3e9);
    expect(r.cgroup!.pids.current).toBeGreaterThanOrEqual(1);
  });

  it('a container holding 64 MiB shows a working set of at least 64 MiB', async () => {
    const s = await until('64 MiB charged', async () => {
      const r = await stats.containerStats(ids[1]!);
      return r.cgroup && r.cgroup.memory.workingSetBytes >= 64 * 2 ** 20 ? r : undefined;
    });
    expect(s.cgroup!.memory.usageBytes).toBeGreaterThanOrEqual(s.cgroup!.memory.workingSetBytes);
  });

  it('writing 10 MB into the writable layer raises its bytes (background walk)', async () => {
    const id = ids[2]!;
    await stats.sample(); // watches the layer dirs
    const before = await until('the first walk', async () => (await stats.containerStats(id)).writableLayer);
    await run('runc', ['--root', runcRoot, 'exec', id, '/bin/busybox', 'dd', 'if=/dev/zero', 'of=/data/blob', 'bs=1M', 'count=10']);
    const after = await until('the walk to see the write', async () => {
      const w = (await stats.containerStats(id)).writableLayer;
      return w && w.usedBytes >= before.usedBytes + 10 * 2 ** 20 ? w : undefined;
    });
    expect(after.inodesUsed).toBe(before.inodesUsed + 1);
  });

  it('the pod covers its containers and lists them; filters apply', async () => {
    const p = await stats.podSandboxStats('pod1');
    expect(p.cgroupPath).toBe(POD);
    expect(p.containers.map((c) => c.info.metadata.name).sort()).toEqual(['burn', 'hog', 'writer']);
    const sum = (f: (c: NonNullable<(typeof p.containers)[0]['cgroup']>) => number): number => p.containers.reduce((a, c) => a + f(c.cgroup!), 0);
    // the pod cgroup is read a moment after its containers: it is at least their sum
    expect(p.cgroup!.cpu.usageNs).toBeGreaterThanOrEqual(sum((c) => c.cpu.usageNs) * 0.99);
    expect(p.cgroup!.memory.usageBytes).toBeGreaterThanOrEqual(sum((c) => c.memory.usageBytes) * 0.95);
    expect(p.cgroup!.pids.current).toBe(sum((c) => c.pids.current));
    expect((await stats.listContainerStats({ labelSelector: { role: 'hog' } })).map((c) => c.info.metadata.name)).toEqual(['hog']);
    expect(await stats.listContainerStats({ podSandboxId: 'other' })).toEqual([]);
  });
});
