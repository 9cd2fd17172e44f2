// The built daemon as a child process for the benchmarks that drive it over its socket, and the
// RSS reading they report. Output is dropped: a benchmark must not pay for log piping.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, existsSync, readFileSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { call, connectCri, type CriClient } from '../src/cri/grpc/client.js';

const REPO = resolve(import.meta.dirname, '../..');

/** The V8 flags every launcher gives the daemon (Makefile `run`, the installed wrapper): one list, in deploy/node-flags. */
export function daemonNodeFlags(): string[] {
  return lines(join(REPO, 'deploy/node-flags'));
}

/** The environment every launcher gives the daemon (VAR=value lines in deploy/node-env). */
export function daemonNodeEnv(): Record<string, string> {
  return envOf(lines(join(REPO, 'deploy/node-env')));
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
}

const ENV_ASSIGNMENT = /^[A-Z_][A-Z0-9_]*=/;

function envOf(assignments: string[]): Record<string, string> {
  return Object.fromEntries(assignments.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
}

export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * The daemon's live JavaScript heap after a full GC, through its inspector: RSS swings with garbage
 * not yet collected, this does not, so a leak shows as a climb and a plateau as a flat line.
 */
export async function liveHeapMiB(inspectPort: number): Promise<number> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error('daemon inspector: no target');
  const ws = new WebSocket(url);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = () => fail(new Error(`daemon inspector: cannot connect to ${url}`));
  });
  let next = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const send = (method: string): Promise<unknown> =>
    new Promise((ok) => {
      const id = ++next;
      pending.set(id, ok);
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    await send('HeapProfiler.collectGarbage');
    const usage = (await send('Runtime.getHeapUsage')) as { usedSize: number };
    return usage.usedSize / 1024 / 1024;
  } finally {
    ws.close();
  }
}

/**
 * A bench daemon's config: socket, root, state and CNI conf under `dir`, no TCP metrics endpoint,
 * warn-level logs; `extra` adds or replaces keys (a whole `cni` object, a metricsAddress, ...).
 */
export function benchConfig(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    socket: join(dir, 'nexcage.sock'),
    rootDir: join(dir, 'root'),
    stateDir: join(dir, 'state'),
    metricsAddress: '',
    logLevel: 'warn',
    cni: { confDirs: [join(dir, 'cni-conf')] },
    ...extra,
  };
}

/**
 * The daemon runs a copy of Node of its own, as on a node, where no other process maps the
 * daemon's binary: the bench's own Node would share its pages, which the kernel then keeps (it
 * only pages out what one process alone maps) and both RSS figures count.
 */
async function privateNode(dir: string): Promise<string> {
  const copy = join(dir, 'node');
  if (!existsSync(copy)) await copyFile(join(REPO, 'node_modules/.bin/node'), copy);
  return copy;
}

export class BenchDaemon {
  proc: ChildProcess | undefined;
  client!: CriClient;
  constructor(
    readonly dir: string,
    readonly config: Record<string, unknown>,
    /** Open the V8 inspector on 127.0.0.1:<port> (bench only) so liveHeapMiB can ask for a full GC. */
    readonly inspectPort?: number,
    readonly options: {
      /**
       * Node/V8 flags instead of the launchers' (deploy/node-flags); VAR=value entries among them
       * override deploy/node-env (an A/B of e.g. MALLOC_ARENA_MAX=0, glibc's default, in one run).
       */
      nodeFlags?: string[];
      /** Where the daemon's stdout goes (e.g. --trace-gc lines); dropped otherwise. */
      stdoutFile?: string;
      /** Where its log (stderr) goes; dropped otherwise. */
      stderrFile?: string;
    } = {},
  ) {}

  async start(): Promise<void> {
    const cfgPath = join(this.dir, 'daemon.json');
    await writeFile(cfgPath, JSON.stringify(this.config));
    const inspect = this.inspectPort ? [`--inspect=127.0.0.1:${this.inspectPort}`] : [];
    const given = this.options.nodeFlags ?? daemonNodeFlags();
    const flags = given.filter((f) => !ENV_ASSIGNMENT.test(f));
    const env = { ...process.env, ...daemonNodeEnv(), ...envOf(given.filter((f) => ENV_ASSIGNMENT.test(f))) };
    const out = this.options.stdoutFile ? openSync(this.options.stdoutFile, 'a') : 'ignore';
    const err = this.options.stderrFile ? openSync(this.options.stderrFile, 'a') : 'ignore';
    const proc = spawn(await privateNode(this.dir), [...flags, ...inspect, join(REPO, 'dist/src/cli/main.js'), 'serve', '--config', cfgPath], { stdio: ['ignore', out, err], env });
    for (const fd of [out, err]) if (typeof fd === 'number') closeSync(fd);
    this.proc = proc;
    this.client = connectCri(this.config.socket as string);
    // Serving once Version answers (recovery runs before the socket is bound).
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) {
        const log = this.options.stderrFile ? `: ${readFileSync(this.options.stderrFile, 'utf8').slice(-2000)}` : '';
        throw new Error(`daemon exited with ${proc.exitCode} before serving${log}`);
      }
      try {
        await call(this.client.runtime, 'Version', {}, 1000);
        return;
      } catch (err) {
        if (i > 300) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    this.client?.close();
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise((r) => {
      p.on('exit', r);
      p.kill('SIGTERM');
    });
  }
}
