// `make bench ARGS=agent`: the node agent's memory, as its launchers run it, after real work.
//
// A daemon (deploy/node-flags) on private dirs with its metrics socket, Debian's docker-registry
// on loopback with the test images, and a stand-in for the Kubernetes API server
// (test/support/kube-api-standin.ts, over TLS with a throwaway CA): no kube-apiserver can run on
// this machine, so the stand-in answers exactly the calls the agent makes (Node read/merge-patch,
// RuntimeClass read/create) with the API's status codes. The agent is started with the V8 flags
// of deploy/agent-node-flags (what the installed `nexcage` wrapper, hence the image entrypoint and
// the chart, gives it) and a JSON kubeconfig naming the stand-in, the CA and a bearer token.
//
// Measured twice: "after start" once it has labelled the Node, created the RuntimeClass and
// pre-pulled an image through the daemon's socket; "steady" after NEXCAGE_BENCH_AGENT_SCRAPES
// (default 10) scrapes of /metrics and /daemon/metrics (the relay of the daemon's metrics socket)
// and NEXCAGE_BENCH_AGENT_ROUNDS (default 5) more sync rounds (resync 1 s). RSS with its
// anonymous/file split (/proc/PID/status), PSS (smaps_rollup), and the V8 heap from the agent's
// own /metrics (nodejs_heap_size_*: no inspector, which would itself cost memory).
//
// NEXCAGE_BENCH_AGENT_INSPECT_PORT=N opens the agent's inspector there and adds its live heap after
// a full GC (a leak shows as a climb between the two readings; the inspector itself costs RSS).
// NEXCAGE_BENCH_AGENT_VARIANTS="name:flag flag;name2:flag VAR=value ..." runs one agent per
// variant, one after the other against the same daemon (the pre-pulled image removed in between),
// to A/B V8 flags (and environment variables, the words with a '=' that do not start with '-') in
// one run; the default is the launchers' flags alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call } from '../src/cri/grpc/client.js';
import { pushTestImages } from '../test/support/image-builder.js';
import { KubeApiStandIn } from '../test/support/kube-api-standin.js';
import { freePort, makeTestCa, TestRegistry } from '../test/support/registry.js';
import { BenchDaemon, liveHeapMiB } from './bench-daemon.js';
import { single, type Row, type Suite } from './lib.js';
import { procMem, type ProcMem } from './proc-mem.js';

const REPO = resolve(import.meta.dirname, '../..');
const GOAL_MIB = 64;
const NODE = 'bench-node';

/** The V8 flags the installed wrapper gives `nexcage agent` (deploy/agent-node-flags). */
export function agentNodeFlags(): string[] {
  return readFileSync(join(REPO, 'deploy/agent-node-flags'), 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
}

function variants(): { name: string; flags: string[]; env: Record<string, string> }[] {
  const raw = process.env.NEXCAGE_BENCH_AGENT_VARIANTS;
  if (!raw) return [{ name: 'launchers\' flags', flags: agentNodeFlags(), env: {} }];
  return raw.split(';').filter((v) => v.trim() !== '').map((v) => {
    const i = v.indexOf(':');
    const [name, flags] = i < 0 ? [v, ''] : [v.slice(0, i), v.slice(i + 1)];
    const words = flags.split(/\s+/).filter((f) => f !== '');
    const isEnv = (w: string): boolean => !w.startsWith('-') && w.includes('=');
    const env = Object.fromEntries(words.filter(isEnv).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    return { name: name.trim(), flags: words.filter((w) => !isEnv(w)), env };
  });
}

async function poll<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`agent bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const MiB = 1024 * 1024;
const r1 = (v: number): string => v.toFixed(1);

interface Reading {
  mem: ProcMem;
  heapUsed: number;
  heapTotal: number;
  /** After a full GC, through the inspector (NaN without it). */
  liveHeap: number;
}

export const suite: Suite = {
  name: 'agent',
  async run(): Promise<Row[]> {
    const scrapes = Number(process.env.NEXCAGE_BENCH_AGENT_SCRAPES ?? 10);
    const rounds = Number(process.env.NEXCAGE_BENCH_AGENT_ROUNDS ?? 5);
    const inspectPort = Number(process.env.NEXCAGE_BENCH_AGENT_INSPECT_PORT ?? 0);
    const work = mkdtempSync('/var/tmp/nexcage-bench-agent-');
    const registry = await TestRegistry.start({ parent: work });
    const sockDir = join(work, 'daemon', 'sock');
    mkdirSync(sockDir, { recursive: true });
    const daemon = new BenchDaemon(join(work, 'daemon'), {
      socket: join(sockDir, 'nexcage.sock'),
      metricsSocket: join(sockDir, 'metrics.sock'),
      rootDir: join(work, 'daemon', 'root'),
      stateDir: join(work, 'daemon', 'state'),
      metricsAddress: '',
      logLevel: 'warn',
      cni: { confDirs: [join(work, 'cni-conf')] },
    });
    const pki = join(work, 'pki');
    mkdirSync(pki);
    const tls = makeTestCa(pki);
    const api = new KubeApiStandIn({ tls: { cert: readFileSync(tls.cert, 'utf8'), key: readFileSync(tls.key, 'utf8') } });
    let agent: ChildProcess | undefined;
    const rows: Row[] = [];
    try {
      await pushTestImages(registry.pushTarget);
      const prePull = `${registry.host}/test/busybox:latest`;
      await daemon.start();
      api.addNode(NODE, { 'kubernetes.io/os': 'linux' });
      await api.start();
      const kubeconfig = join(work, 'kubeconfig.json');
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'standin', cluster: { server: api.url, 'certificate-authority': tls.ca } }],
          users: [{ name: 'agent', user: { token: api.token } }],
          contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'agent' } }],
          'current-context': 'standin',
        }),
      );
      for (const v of variants()) {
        // Each variant does the same work: a cold pre-pull, a fresh Node, no RuntimeClass yet.
        await call(daemon.client.image, 'RemoveImage', { image: { image: prePull } }).catch(() => undefined);
        api.runtimeClasses.clear();
        api.addNode(NODE, { 'kubernetes.io/os': 'linux' });
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        const logFile = join(work, `agent-${rows.length}.log`);
        const log = openSync(logFile, 'a');
        const proc = spawn(
          join(REPO, 'node_modules/.bin/node'),
          [
            ...v.flags,
            ...(inspectPort ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
            join(REPO, 'dist/src/cli/main.js'),
            'agent',
            '--node-name', NODE,
            '--kubeconfig', kubeconfig,
            '--socket', daemon.config.socket as string,
            '--daemon-metrics-socket', daemon.config.metricsSocket as string,
            '--health-address', `127.0.0.1:${port}`,
            '--pre-pull', prePull,
            '--resync-seconds', '1',
            '--log-level', 'warn',
          ],
          { stdio: ['ignore', log, log], env: { PATH: process.env.PATH ?? '', ...v.env } },
        );
        closeSync(log);
        agent = proc;
        const pid = proc.pid as number;
        const read = async (): Promise<Reading> => {
          const text = await (await fetch(`${base}/metrics`)).text();
          const mem = procMem(pid);
          const liveHeap = inspectPort ? await liveHeapMiB(inspectPort) : NaN;
          return { mem, heapUsed: metric(text, 'nodejs_heap_size_used_bytes') / MiB, heapTotal: metric(text, 'nodejs_heap_size_total_bytes') / MiB, liveHeap };
        };
        const syncs = async (): Promise<number> => metric(await (await fetch(`${base}/metrics`)).text(), 'nexcage_agent_syncs_total');
        try {
          const failed = (): string => `agent exited (${proc.exitCode}): ${readFileSync(logFile, 'utf8').slice(-2000)}`;
          await poll('the Node labelled ready', () => {
            if (proc.exitCode !== null) throw new Error(failed());
            return api.nodes.get(NODE)?.metadata.labels?.['nexcage.io/ready'] === 'true' || undefined;
          }).catch((err: Error) => {
            throw new Error(proc.exitCode !== null ? failed() : err.message);
          });
          await poll('the RuntimeClass', () => api.runtimeClasses.get('runc'));
          await poll('the pre-pulled image', async () => (await call(daemon.client.image, 'ImageStatus', { image: { image: prePull } })).image ?? undefined);
          await poll('/readyz', async () => (await fetch(`${base}/readyz`)).status === 200 || undefined);
          const start = await read();
          for (let i = 0; i < scrapes; i++) {
            const relayed = await (await fetch(`${base}/daemon/metrics`)).text();
            if (!/^nexcage_build_info\{/m.test(relayed)) throw new Error(`agent bench: /daemon/metrics did not relay the daemon's metrics: ${relayed.slice(0, 300)}`);
            await (await fetch(`${base}/metrics`)).text();
          }
          const from = await syncs();
          await poll(`${rounds} more sync rounds`, async () => (await syncs()) >= from + rounds || undefined, rounds * 5_000 + 30_000);
          const steady = await read();
          const tag = (s: string): string => (variants().length > 1 ? `${s} [${v.name}]` : s);
          const memRows = (when: string, r: Reading): Row[] => [
            single(tag(`agent RSS ${when}`), 'MiB', r.mem.rss, `anon ${r1(r.mem.anon)} / file ${r1(r.mem.file)}`),
            single(tag(`agent PSS ${when}`), 'MiB', r.mem.pss),
            single(tag(`agent V8 heap used ${when}`), 'MiB', r.heapUsed, `heap total ${r1(r.heapTotal)}`),
            ...(inspectPort ? [single(tag(`agent live heap after a full GC ${when}`), 'MiB', r.liveHeap, 'through the inspector')] : []),
          ];
          rows.push(...memRows('after start (labels, RuntimeClass, pre-pull done)', start));
          rows.push(...memRows(`steady (+${scrapes} scrapes, +${rounds} syncs)`, steady));
          rows.push(
            single(tag(`agent RSS goal <= ${GOAL_MIB} MiB`), 'MiB', steady.mem.rss, `${steady.mem.rss <= GOAL_MIB ? 'met' : 'NOT met'}; flags: ${[...v.flags, ...Object.entries(v.env).map(([k, x]) => `${k}=${x}`)].join(' ') || '(none)'}`),
          );
        } finally {
          await new Promise((r) => {
            if (proc.exitCode !== null) return r(undefined);
            proc.on('exit', r);
            proc.kill('SIGTERM');
          });
          agent = undefined;
        }
      }
    } finally {
      agent?.kill('SIGKILL');
      await api.stop();
      await daemon.stop();
      await registry.stop();
      rmSync(work, { recursive: true, force: true });
    }
    return rows;
  },
};
