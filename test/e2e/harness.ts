// The shared e2e harness: runs the built daemon (dist/) as a real child process on a temporary
// socket, root and state dir, hands out a typed CRI client, and at the end of the file fails if a
// process, mount or socket of the test was left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { connectCri, type CriClient } from '../../src/cri/grpc/client.js';

// vitest runs this file from test/e2e; compiled runners (make conformance) from dist/test/e2e.
export const REPO = resolve(import.meta.dirname, import.meta.filename.endsWith('.js') ? '../../..' : '../..');
export const NODE = join(REPO, 'node_modules/.bin/node');
export const MAIN = join(REPO, 'dist/src/cli/main.js');

/**
 * Under `make coverage` (NODE_V8_COVERAGE set) a daemon writes its coverage only when it exits by
 * itself; one killed with SIGKILL (crash tests) would lose everything it ran. Such daemons load
 * this first: on SIGUSR2 they write their coverage so far, then say so on stderr, and stop()
 * waits for that line before killing.
 */
const COVERAGE_FLUSH = "data:text/javascript,import v8 from 'node:v8';process.on('SIGUSR2',()=>{v8.takeCoverage();process.stderr.write('nexcage-test: coverage flushed\\n');});";
const FLUSHED = 'nexcage-test: coverage flushed';

export interface DaemonOptions {
  /** Merged over the harness defaults (socket, dirs, metrics on a random port, debug logs). */
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Another Node binary to run the daemon with (default NODE). */
  node?: string;
  /** Node/V8 flags before the daemon's script (the launchers pass deploy/node-flags; tests pass what they need). */
  nodeFlags?: string[];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Poll `check` until it returns a value (not undefined/false) or the deadline passes. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

/** A directory of its own for one test file: sockets, config, root and state dirs live under it. */
export class TestDir {
  private constructor(readonly path: string) {}
  static async create(): Promise<TestDir> {
    return new TestDir(await mkdtemp('/tmp/nexcage-e2e-'));
  }
  join(...parts: string[]): string {
    return join(this.path, ...parts);
  }
  /** A per-file tag (from the temp dir name) for names on the node: bridge, subnet, cgroup parent. */
  get tag(): string {
    return this.path.slice(-6);
  }
  /** Pods' cgroup parent for this file (cgroupfs): the leak check looks for cgroups left under it. */
  get cgroupParent(): string {
    return `/nexcage-e2e-${this.tag}`;
  }
  /** Built-in network of this file's daemons: its own bridge and /24, so parallel files never clash. */
  get podNetwork(): { defaultBridge: string; defaultSubnet: string } {
    let h = 0;
    for (const c of this.tag) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return { defaultBridge: `nxe${this.tag}`, defaultSubnet: `10.${100 + (h % 100)}.${(h >>> 8) % 256}.0/24` };
  }
}

export class Daemon {
  readonly lines: string[] = [];
  metricsUrl = '';
  client!: CriClient;
  private proc!: ChildProcess;
  private exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  private exitInfo: Exit | undefined;

  constructor(
    readonly dir: TestDir,
    readonly name: string,
    readonly options: DaemonOptions = {},
  ) {}

  get socket(): string {
    return (this.config().socket as string) ?? this.dir.join(`${this.name}.sock`);
  }
  get configPath(): string {
    return this.dir.join(`${this.name}.config.json`);
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  config(): Record<string, unknown> {
    return {
      socket: this.dir.join(`${this.name}.sock`),
      rootDir: this.dir.join(this.name, 'root'),
      stateDir: this.dir.join(this.name, 'state'),
      metricsAddress: '127.0.0.1:0',
      logLevel: 'debug',
      shutdownTimeoutSeconds: 5,
      // Off unless a test turns it on: a reclaim at a random moment would add a helper process
      // (and its span) to whatever a test is counting.
      memoryReclaimIdleSeconds: 0,
      cni: { confDirs: [this.dir.join('cni-conf')], ...this.dir.podNetwork },
      ...this.options.config,
    };
  }

  /** Start the daemon and wait until it serves; resolves with the exit instead if it dies first. */
  async start(): Promise<void> {
    await writeFile(this.configPath, JSON.stringify(this.config(), null, 2));
    this.lines.length = 0;
    this.exitInfo = undefined;
    const coverage = process.env.NODE_V8_COVERAGE ? ['--import', COVERAGE_FLUSH] : [];
    const proc = spawn(this.options.node ?? NODE, [...(this.options.nodeFlags ?? []), ...coverage, MAIN, 'serve', '--config', this.configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.options.env },
    });
    this.proc = proc;
    this.exited = new Promise((r) =>
      proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        r(this.exitInfo);
      }),
    );
    let buf = '';
    const onData = (b: Buffer): void => {
      // Search only the new chunk for line ends: rescanning the whole buffer made a 10 MB log
      // line quadratic, and the daemon blocked on the full pipe meanwhile.
      const chunk = b.toString();
      let i = chunk.indexOf('\n');
      if (i < 0) {
        buf += chunk;
        return;
      }
      let start = 0;
      let line = buf;
      while (i >= 0) {
        this.lines.push(line + chunk.slice(start, i));
        line = '';
        start = i + 1;
        i = chunk.indexOf('\n', start);
      }
      buf = chunk.slice(start);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    const serving = await waitFor('the daemon to serve', () => {
      if (this.exitInfo) throw new Error(`daemon exited (${JSON.stringify(this.exitInfo)}) before serving:\n${this.lines.join('\n')}`);
      return this.logs().find((l) => l.msg === 'nexcage serving');
    }, 30_000);
    this.metricsUrl = serving.metricsAddress ? `http://${serving.metricsAddress as string}` : '';
    this.client = connectCri(this.socket);
  }

  /** Parsed JSON log lines (non-JSON lines skipped). */
  logs(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const l of this.lines) {
      try {
        out.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not a JSON log line
      }
    }
    return out;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    this.client?.close();
    if (signal === 'SIGKILL' && process.env.NODE_V8_COVERAGE) await this.flushCoverage();
    if (!this.exitInfo && this.proc) this.proc.kill(signal);
    return this.exited;
  }

  /** Have a daemon about to be killed write its coverage (see COVERAGE_FLUSH); bounded, best effort. */
  private async flushCoverage(): Promise<void> {
    if (this.exitInfo || !this.proc) return;
    const seen = this.lines.filter((l) => l === FLUSHED).length;
    this.proc.kill('SIGUSR2');
    await waitFor('the daemon to write its coverage', () => this.exitInfo !== undefined || this.lines.filter((l) => l === FLUSHED).length > seen, 30_000).catch(() => undefined);
  }

  /** Wait for the daemon to exit by itself. */
  waitExit(): Promise<Exit> {
    return this.exited;
  }
}

/** Run the CLI to completion: `nexcage <args>`. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const p = spawn(NODE, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('exit', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Everything of this test's that is still alive or mounted: must be empty at the end of a file. */
export function leftovers(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // kernel threads and exiting processes have no readable cwd
      }
      if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push(`process ${pid}: ${cmdline.trim()}`);
    } catch {
      // the process went away while we looked
    }
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint?.startsWith(dir)) found.push(`mount ${mountPoint}`);
  }
  return [...found, ...podLeftovers(dir)];
}

/** Subdirectories of `path` ([] when it does not exist). */
function subdirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

function files(path: string): string[] {
  try {
    return readdirSync(path).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}

/**
 * The pods' netns pins in a daemon's state dir. A spare the daemon keeps ready (`.spare-*`, a
 * namespace with only lo, handed to the next pod as a link) is not a pod's.
 */
export function podPins(d: Daemon): string[] {
  const dir = join(d.config().stateDir as string, 'netns');
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.spare-')) : [];
}

/**
 * Pod-level leaks of every daemon that ran in `dir` (<dir>/<daemon>/state): netns pins, runc
 * containers still known to a runtime root, host-local IP reservations of the built-in network,
 * and cgroups left under this file's cgroup parent.
 */
export function podLeftovers(dir: string): string[] {
  const found: string[] = [];
  for (const daemon of subdirs(dir)) {
    const state = join(dir, daemon, 'state');
    if (!existsSync(state)) continue;
    for (const pin of files(join(state, 'netns'))) found.push(`netns pin ${join(state, 'netns', pin)}`);
    for (const root of subdirs(state)) {
      // A runtime root holds one dir per container runc still knows (plus our .logs).
      if (!existsSync(join(state, root))) continue;
      for (const c of subdirs(join(state, root))) {
        if (existsSync(join(state, root, c, 'state.json'))) found.push(`runc container ${c} (root ${join(state, root)})`);
      }
    }
    const networks = join(state, 'cni', 'networks');
    for (const net of subdirs(networks)) {
      for (const f of files(join(networks, net))) {
        if (/^[0-9.]+$|:/.test(f)) found.push(`host-local IP ${f} (network ${net})`);
      }
    }
  }
  const parent = `/nexcage-e2e-${dir.slice(-6)}`;
  for (const ctrl of subdirs('/sys/fs/cgroup')) {
    for (const cg of subdirs(join('/sys/fs/cgroup', ctrl, parent))) found.push(`cgroup ${join('/sys/fs/cgroup', ctrl, parent, cg)}`);
  }
  return found;
}

/** After a clean check: remove this file's (empty) cgroup parents and its bridge. */
async function removeNodeLeftovers(dir: TestDir): Promise<void> {
  for (const ctrl of subdirs('/sys/fs/cgroup')) {
    const path = join('/sys/fs/cgroup', ctrl, dir.cgroupParent);
    if (existsSync(path)) await rmdir(path).catch(() => undefined);
  }
  await new Promise<void>((r) => {
    const p = spawn('ip', ['link', 'del', dir.podNetwork.defaultBridge], { stdio: 'ignore' });
    p.on('exit', () => r());
    p.on('error', () => r());
  });
}

/**
 * For one e2e file: a TestDir before all tests, and after them every daemon stopped, then a
 * leak check (processes, mounts, sockets) that fails the file, then the dir removed.
 */
export function useTestDir(): { dir: () => TestDir; track: (d: Daemon) => Daemon } {
  let dir: TestDir | undefined;
  const daemons: Daemon[] = [];
  beforeAll(async () => {
    dir = await TestDir.create();
  });
  afterAll(async () => {
    if (!dir) return;
    for (const d of daemons) await d.stop();
    const sockets = daemons.map((d) => d.socket).filter((s) => existsSync(s));
    let left: string[];
    try {
      left = await waitFor('the test to leave nothing behind', () => {
        const l = leftovers(dir!.path);
        return l.length === 0 ? [] : undefined;
      }, 10_000);
    } catch {
      left = leftovers(dir.path);
    }
    if (left.length === 0 && sockets.length === 0) {
      await removeNodeLeftovers(dir);
      await rm(dir.path, { recursive: true, force: true });
    }
    const problems = [...left, ...sockets.map((s) => `socket ${s}`)];
    if (problems.length > 0) throw new Error(`leak check failed, left behind:\n${problems.join('\n')}`);
  });
  return {
    dir: () => {
      if (!dir) throw new Error('useTestDir(): the dir exists only inside tests and hooks');
      return dir;
    },
    track: (d) => {
      daemons.push(d);
      return d;
    },
  };
}
