// bench pods: RunPodSandbox / StopPodSandbox / RemovePodSandbox latency through the built daemon
// (real runc, conmon, CNI bridge) for 50 pods one after another and 10 at once, next to raw
// `runc run --detach` / `runc delete --force` of the same infra bundle (no netns, no CNI, no
// conmon) as the floor the daemon's overhead is measured against.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { call, connectCri, type CriClient } from '../src/cri/grpc/client.js';
import { run } from '../src/lib/exec.js';
import { single, summarize, timeMs, type Row, type Suite } from './lib.js';

const MAIN = resolve(import.meta.dirname, '../src/cli/main.js');
const SEQUENTIAL = 50;
const PARALLEL = 10;
const BRIDGE = 'nxbench0';

function podConfig(name: string, cgroupParent: string): object {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'bench', attempt: 0 },
    hostname: name,
    labels: { bench: 'pods' },
    linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

async function startDaemon(dir: string): Promise<{ client: CriClient; metricsUrl: () => string; stop: () => Promise<void> }> {
  await mkdir(dir, { recursive: true });
  const socket = join(dir, 'd.sock');
  const config = {
    socket,
    rootDir: join(dir, 'root'),
    stateDir: join(dir, 'state'),
    metricsAddress: '127.0.0.1:0',
    logLevel: 'info',
    cni: { confDirs: [join(dir, 'cni-conf')], defaultBridge: BRIDGE, defaultSubnet: '10.254.240.0/24' },
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  const proc = spawn(process.execPath, [MAIN, 'serve', '--config', join(dir, 'config.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  let metricsUrl = '';
  let buf = '';
  proc.stderr?.on('data', (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const l = JSON.parse(line) as { msg?: string; level?: number; metricsAddress?: string };
        if (l.msg === 'nexcage serving' && l.metricsAddress) metricsUrl = `http://${l.metricsAddress}`;
        else if ((l.level ?? 0) >= 40) process.stderr.write(line + '\n');
      } catch {
        process.stderr.write(line + '\n');
      }
    }
  });
  const client = connectCri(socket);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await call(client.runtime, 'Version', {}, 1000);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    client,
    metricsUrl: () => metricsUrl,
    stop: async () => {
      client.close();
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

async function daemonRows(dir: string, cgroupParent: string): Promise<Row[]> {
  const d = await startDaemon(dir);
  const rt = d.client.runtime;
  const seq = { run: [] as number[], stop: [] as number[], remove: [] as number[] };
  try {
    for (let i = 0; i < SEQUENTIAL; i++) {
      let id = '';
      seq.run.push(await timeMs(async () => (id = (await call(rt, 'RunPodSandbox', { config: podConfig(`seq-${i}`, cgroupParent) })).pod_sandbox_id)));
      seq.stop.push(await timeMs(() => call(rt, 'StopPodSandbox', { pod_sandbox_id: id })));
      seq.remove.push(await timeMs(() => call(rt, 'RemovePodSandbox', { pod_sandbox_id: id })));
    }
    const par = { run: [] as number[], stop: [] as number[], remove: [] as number[] };
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        timeMs(async () => ids.push((await call(rt, 'RunPodSandbox', { config: podConfig(`par-${i}`, cgroupParent) })).pod_sandbox_id)).then((ms) => par.run.push(ms)),
      ),
    );
    await Promise.all(ids.map((id) => timeMs(() => call(rt, 'StopPodSandbox', { pod_sandbox_id: id })).then((ms) => par.stop.push(ms))));
    await Promise.all(ids.map((id) => timeMs(() => call(rt, 'RemovePodSandbox', { pod_sandbox_id: id })).then((ms) => par.remove.push(ms))));
    const split = await createSplit(d.metricsUrl());
    return [
      summarize(`RunPodSandbox (${SEQUENTIAL} sequential)`, 'ms', seq.run, 'netns + CNI bridge + conmon/runc infra'),
      single('  of which network step (mean, all 60 pods)', 'ms', split.network, 'netns pin + CNI ADD (loopback, bridge/host-local, portmap)'),
      single('  of which infra step (mean, all 60 pods)', 'ms', split.infra, 'conmon + runc create + runc start'),
      summarize(`StopPodSandbox (${SEQUENTIAL} sequential)`, 'ms', seq.stop),
      summarize(`RemovePodSandbox (${SEQUENTIAL} sequential)`, 'ms', seq.remove),
      summarize(`RunPodSandbox (${PARALLEL} parallel)`, 'ms', par.run, 'latency of each of 10 concurrent calls'),
      summarize(`StopPodSandbox (${PARALLEL} parallel)`, 'ms', par.stop),
      summarize(`RemovePodSandbox (${PARALLEL} parallel)`, 'ms', par.remove),
    ];
  } finally {
    await d.stop();
  }
}

/** Mean of each RunPodSandbox step from the daemon's nexcage_sandbox_create_duration_seconds histogram. */
async function createSplit(metricsUrl: string): Promise<{ network: number; infra: number }> {
  if (metricsUrl === '') return { network: NaN, infra: NaN };
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const value = (suffix: string, step: string): number => {
    const m = text.match(new RegExp(`^nexcage_sandbox_create_duration_seconds_${suffix}\\{step="${step}"\\} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  const mean = (step: string): number => (value('sum', step) / value('count', step)) * 1000;
  return { network: mean('network'), infra: mean('infra') };
}

/** The infra bundle the daemon writes, minus what only a pod has (pinned netns, pod shm, cgroup parent). */
async function rawBundle(dir: string, cgroupParent: string): Promise<string> {
  const d = await startDaemon(join(dir, 'ref-daemon'));
  try {
    const id = (await call(d.client.runtime, 'RunPodSandbox', { config: podConfig('ref', cgroupParent) })).pod_sandbox_id;
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    const info = JSON.parse(st.info.info ?? '{}') as { runtimeSpec: { linux: { namespaces: { type: string; path?: string }[] }; mounts: { destination: string; type?: string; source: string; options?: string[] }[] } };
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    const spec = info.runtimeSpec;
    spec.linux.namespaces = spec.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network' } : n));
    spec.mounts = spec.mounts.map((m) => (m.destination === '/dev/shm' ? { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] } : m));
    const bundle = join(dir, 'raw-bundle');
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    return bundle;
  } finally {
    await d.stop();
  }
}

async function rawRows(dir: string, cgroupParent: string): Promise<Row[]> {
  const bundle = await rawBundle(dir, cgroupParent);
  const root = join(dir, 'raw-runc');
  const runMs: number[] = [];
  const delMs: number[] = [];
  const specText = await readFile(join(bundle, 'config.json'), 'utf8');
  for (let i = 0; i < SEQUENTIAL; i++) {
    const id = `raw-${i}`;
    // each container its own cgroup, as the daemon gives each pod
    const spec = JSON.parse(specText) as { linux: { cgroupsPath: string } };
    spec.linux.cgroupsPath = `${cgroupParent}/${id}`;
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    // stdio ignored: a detached container inherits runc's stdio and would hold pipes open forever.
    runMs.push(await timeMs(() => runcDetached(['--root', root, 'run', '--detach', '--bundle', bundle, id])));
    delMs.push(await timeMs(() => run('runc', ['--root', root, 'delete', '--force', id], { timeoutMs: 30_000 })));
  }
  return [
    summarize(`raw runc run --detach (${SEQUENTIAL} sequential)`, 'ms', runMs, 'reference: same infra bundle, no netns/CNI/conmon'),
    summarize(`raw runc delete --force (${SEQUENTIAL} sequential)`, 'ms', delMs, 'reference'),
  ];
}

function runcDetached(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn('runc', args, { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`runc ${args.join(' ')}: exit ${code ?? 'signal'}`))));
  });
}

export const suite: Suite = {
  name: 'pods',
  async run(): Promise<Row[]> {
    const dir = await mkdtemp('/tmp/nexcage-bench-pods-');
    const cgroupParent = `/nexcage-bench-${dir.slice(-6)}`;
    try {
      const rows = await daemonRows(join(dir, 'daemon'), cgroupParent);
      rows.push(...(await rawRows(dir, cgroupParent)));
      return rows;
    } finally {
      await run('ip', ['link', 'del', BRIDGE], { allowFailure: true });
      await run('sh', ['-c', `rmdir /sys/fs/cgroup/*${cgroupParent} 2>/dev/null; true`], { allowFailure: true });
      await rm(dir, { recursive: true, force: true });
    }
  },
};
