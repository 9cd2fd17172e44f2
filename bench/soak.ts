// bench/soak: churn through the built daemon (real runc, conmon, CNI, overlayfs, a local
// docker-registry): N cycles of RunPodSandbox -> CreateContainer + StartContainer x2 -> ExecSync
// in each -> StopContainer x2 -> RemoveContainer x2 -> StopPodSandbox -> RemovePodSandbox, P at a
// time. At the end nothing may be left: mounts, netns pins, processes, cgroups, host-local IPs,
// files under the state dir, daemon fds (compared with after the warm-up). Daemon RSS is sampled
// along the way, and the live heap after a full GC (through the daemon's inspector): it must
// plateau. `make bench ARGS="soak"` runs 1000 cycles x 4 in parallel; NEXCAGE_SOAK_CYCLES /
// NEXCAGE_SOAK_PARALLEL change that (e.g. a short run).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { call } from '../src/cri/grpc/client.js';
import type { ContainerConfig } from '../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { pushContainerImages } from '../test/support/containers.js';
import { TestRegistry } from '../test/support/registry.js';
import { single, summarize, type Row, type Suite } from './lib.js';
import { BenchDaemon, benchConfig, liveHeapMiB, rssMiB } from './bench-daemon.js';

const CYCLES = Number(process.env.NEXCAGE_SOAK_CYCLES ?? 1000);
const PARALLEL = Number(process.env.NEXCAGE_SOAK_PARALLEL ?? 4);
const WARMUP = 8;
/** The bench daemon's inspector (loopback, this benchmark only). */
const INSPECT_PORT = 9339;

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx === 0 ? NaN : points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx;
}


function fds(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return 'gone';
    }
  });
}

/** Every file under `dir` (relative paths), directories included. */
function tree(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = join(prefix, e.name);
    out.push(rel);
    if (e.isDirectory()) out.push(...tree(join(dir, e.name), rel));
  }
  return out;
}

function subdirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** What the soak left on the node, by kind. */
function leaks(dir: string, stateDir: string, cgroupParent: string, keepPids: number[]): Record<string, string[]> {
  const processes: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (keepPids.includes(Number(pid)) || Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      // The registry (its config lives in dir) is the bench's own, not the daemon's.
      if (cmd.includes(dir) && !cmd.startsWith('docker-registry')) processes.push(`${pid}: ${cmd.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir));
  const netns = existsSync(join(stateDir, 'netns')) ? readdirSync(join(stateDir, 'netns')).filter((n) => !n.startsWith('.')) : [];
  const ips: string[] = [];
  for (const net of subdirs(join(stateDir, 'cni', 'networks'))) {
    for (const f of readdirSync(join(stateDir, 'cni', 'networks', net))) if (/^[0-9.]+$|:/.test(f)) ips.push(`${net}/${f}`);
  }
  const cgroups: string[] = [];
  for (const ctrl of subdirs('/sys/fs/cgroup')) for (const cg of subdirs(join('/sys/fs/cgroup', ctrl, cgroupParent))) cgroups.push(`${ctrl}${cgroupParent}/${cg}`);
  return { processes, mounts, netns, ips, cgroups };
}


export const suite: Suite = {
  name: 'soak',
  async run(): Promise<Row[]> {
    const rows: Row[] = [];
    const tag = randomBytes(3).toString('hex');
    const dir = await mkdtemp('/tmp/nexcage-bench-soak-');
    const cgroupParent = `/nexcage-soak-${tag}`;
    const bridge = `nxs${tag}`;
    const stateDir = join(dir, 'state');
    const registry = await TestRegistry.start({ parent: dir });
    const d = new BenchDaemon(dir, benchConfig(dir, { stateDir, cni: { confDirs: [join(dir, 'cni-conf')], defaultBridge: bridge, defaultSubnet: '10.252.0.0/16' } }), INSPECT_PORT);
    let failures = 0;
    const errors = new Map<string, number>();
    try {
      const images = await pushContainerImages(registry);
      await d.start();
      const rt = d.client.runtime;
      await call(d.client.image, 'PullImage', { image: { image: images.busybox } }, 120_000);
      const pid = d.proc!.pid!;
      let seq = 0;
      const podConfig = (): PodSandboxConfig => {
        const name = `soak${++seq}`;
        return {
          metadata: { name, uid: `uid-${name}-${tag}`, namespace: 'soak', attempt: 0 },
          hostname: name,
          log_directory: join(dir, 'logs', name),
          linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
        };
      };
      const ctrConfig = (): ContainerConfig => {
        const name = `c${++seq}`;
        return { metadata: { name, attempt: 0 }, image: { image: images.busybox }, command: ['sleep', '100000'], log_path: `${name}.log` };
      };
      const cycle = async (): Promise<void> => {
        const pc = podConfig();
        const podId = (await call(rt, 'RunPodSandbox', { config: pc }, 120_000)).pod_sandbox_id;
        try {
          const ids: string[] = [];
          for (let i = 0; i < 2; i++) {
            const id = (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: ctrConfig(), sandbox_config: pc }, 120_000)).container_id;
            ids.push(id);
            await call(rt, 'StartContainer', { container_id: id }, 120_000);
          }
          for (const id of ids) {
            const r = await call(rt, 'ExecSync', { container_id: id, cmd: ['echo', 'soak'], timeout: 30 }, 60_000);
            if (r.exit_code !== 0 || r.stdout.toString() !== 'soak\n') throw new Error(`exec in ${id}: exit ${r.exit_code}, ${JSON.stringify(r.stdout.toString())}`);
          }
          for (const id of ids) await call(rt, 'StopContainer', { container_id: id, timeout: 0 }, 120_000);
          for (const id of ids) await call(rt, 'RemoveContainer', { container_id: id }, 120_000);
        } finally {
          await call(rt, 'StopPodSandbox', { pod_sandbox_id: podId }, 120_000);
          await call(rt, 'RemovePodSandbox', { pod_sandbox_id: podId }, 120_000);
        }
      };
      // Warm-up: the first cycles load code paths, caches and the bridge; the baseline is after them.
      for (let i = 0; i < WARMUP; i++) await cycle();
      await new Promise((r) => setTimeout(r, 2000));
      const stateBefore = new Set(tree(stateDir));
      const fdsBefore = fds(pid);
      const rssStart = rssMiB(pid);
      const samples: { cycle: number; rss: number; heap: number }[] = [{ cycle: 0, rss: rssStart, heap: await liveHeapMiB(INSPECT_PORT) }];
      const cycleMs: number[] = [];
      let done = 0;
      const started = Date.now();
      const worker = async (): Promise<void> => {
        while (done < CYCLES) {
          done++;
          const t0 = Date.now();
          try {
            await cycle();
          } catch (err) {
            failures++;
            const key = String((err as Error).message).slice(0, 120);
            errors.set(key, (errors.get(key) ?? 0) + 1);
          }
          cycleMs.push(Date.now() - t0);
          if (cycleMs.length % Math.max(1, Math.floor(CYCLES / 10)) === 0) samples.push({ cycle: cycleMs.length, rss: rssMiB(pid), heap: await liveHeapMiB(INSPECT_PORT) });
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      const wallS = (Date.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 3000));
      const rssEnd = rssMiB(pid);
      const heapEnd = await liveHeapMiB(INSPECT_PORT);
      const fdsAfter = fds(pid);
      const left = leaks(dir, stateDir, cgroupParent, [pid]);
      const stateAfter = tree(stateDir).filter((f) => !stateBefore.has(f));
      const extraFds = fdsAfter.filter((f) => !fdsBefore.includes(f) || fdsAfter.filter((x) => x === f).length > fdsBefore.filter((x) => x === f).length);
      const sizeOfState = stateAfter.map((f) => `${f}${statSync(join(stateDir, f)).isDirectory() ? '/' : ''}`);

      rows.push(single('cycles run', 'cycles', cycleMs.length, `${PARALLEL} in parallel, ${failures} failed, ${wallS.toFixed(0)} s wall`));
      rows.push(summarize('cycle (pod + 2 containers + exec + stop + remove)', 'ms', cycleMs));
      rows.push(single('daemon RSS after warm-up', 'MiB', rssStart));
      rows.push(single('daemon RSS at the end', 'MiB', rssEnd, `growth ${(rssEnd - rssStart).toFixed(1)} MiB; samples ${samples.map((s) => `${s.cycle}:${s.rss.toFixed(0)}`).join(' ')}`));
      rows.push(single('daemon RSS max seen', 'MiB', Math.max(...samples.map((s) => s.rss), rssEnd)));
      // The leak signal: live heap after a full GC at each tenth of the run, and its trend over the
      // second half (MiB per 1000 cycles; ~0 is a plateau).
      const heapStart = samples[0]?.heap ?? NaN;
      const half = samples.filter((s) => s.cycle >= CYCLES / 2);
      rows.push(single('daemon live heap after full GC: after warm-up', 'MiB', heapStart));
      rows.push(single('daemon live heap after full GC: at the end', 'MiB', heapEnd, `growth ${(heapEnd - heapStart).toFixed(2)} MiB; samples ${samples.map((s) => `${s.cycle}:${s.heap.toFixed(1)}`).join(' ')}`));
      rows.push(single('daemon live heap trend over the second half', 'MiB/1000 cycles', slope(half.map((s) => [s.cycle, s.heap])) * 1000));
      rows.push(single('daemon open fds (after warm-up -> end)', 'fds', fdsAfter.length, `from ${fdsBefore.length}${extraFds.length ? `; new: ${extraFds.slice(0, 5).join(', ')}` : ''}`));
      for (const [kind, items] of Object.entries(left)) rows.push(single(`leaked ${kind}`, 'count', items.length, items.slice(0, 3).join('; ')));
      rows.push(single('leaked files under the state dir', 'count', stateAfter.length, sizeOfState.slice(0, 5).join(', ')));
      for (const [msg, n] of errors) rows.push(single(`failed cycles: ${msg}`, 'count', n));
    } finally {
      await d.stop();
      await registry.stop();
      for (const ctrl of subdirs('/sys/fs/cgroup')) {
        const path = join('/sys/fs/cgroup', ctrl, cgroupParent);
        if (existsSync(path)) await rmdir(path).catch(() => undefined);
      }
      await new Promise<void>((r) => {
        const p = spawn('ip', ['link', 'del', bridge], { stdio: 'ignore' });
        p.on('exit', () => r());
        p.on('error', () => r());
      });
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
    return rows;
  },
};
