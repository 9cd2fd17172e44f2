// Exec, attach, port-forward and logs as users run them: the shipped crictl (cri-tools v1.34.0,
// CRICTL= overrides) against the daemon on a temp socket, over SPDY and WebSocket. Sessions with a
// terminal run crictl under util-linux `script`, which gives it one (crictl refuses -t without).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { ctrConfig, pull, runCtr, startPodFixture, stopPodFixture, type ContainerImages } from '../support/containers.js';
import { buildImage, busyboxEntries, layer, pushImage } from '../support/image-builder.js';
import { freePort, type TestRegistry } from '../support/registry.js';
import { processAlive, useTestDir, waitFor, type Daemon } from './harness.js';

const CRICTL = process.env.CRICTL ?? '/work/shared/conformance/bin/crictl';
const TRANSPORTS = ['spdy', 'websocket'] as const;

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId: string;
/** busybox with the terminal applets (tty, stty) the standard test image lacks. */
let ttyImage = '';
let crictlConfig = '';
const children = new Set<ChildProcess>();

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'crictl'));
  const img = buildImage({
    layers: [await layer([...busyboxEntries(), ...['tty', 'stty', 'test'].map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' }))])],
  });
  await pushImage(registry.pushTarget, 'test/ttybox', ['latest'], img);
  ttyImage = `${registry.host}/test/ttybox:latest`;
  await pull(d, ttyImage);
  crictlConfig = t.dir().join('crictl.yaml');
  await writeFile(crictlConfig, `runtime-endpoint: unix://${d.socket}\nimage-endpoint: unix://${d.socket}\ntimeout: 30\n`);
}, 180_000);

afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
});

afterAll(async () => {
  await stopPodFixture({ d, registry, podId });
});

interface Proc {
  child: ChildProcess;
  /** stdout so far, without the NUL bytes crictl may put around a terminal session. */
  out(): string;
  err(): string;
  exited: Promise<number | null>;
}

function start(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: t.dir().path });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => out.replace(/\0/g, ''), err: () => err, exited };
}

/** `crictl ARGS` to the end, with `input` on its stdin. */
async function crictl(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const began = Date.now();
  const p = start(CRICTL, ['--config', crictlConfig, ...args]);
  p.child.stdin?.end(input);
  const code = await p.exited;
  return { code, stdout: p.out(), stderr: p.err(), ms: Date.now() - began };
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * crictl on a terminal of `rows` x `cols` (script's pty). Creating `resizeTrigger` makes a
 * background shell on that terminal resize it to `resizeTo`, which crictl sees as SIGWINCH.
 */
function onTerminal(args: string[], o: { rows: number; cols: number; resizeTo?: [number, number]; resizeTrigger?: string }): Proc {
  const resize = o.resizeTo && o.resizeTrigger
    ? `(while ! test -e ${quote(o.resizeTrigger)}; do sleep 0.05; done; stty -F /dev/tty rows ${o.resizeTo[0]} cols ${o.resizeTo[1]}) & `
    : '';
  const inner = `stty rows ${o.rows} cols ${o.cols}; ${resize}exec ${[CRICTL, '--config', crictlConfig, ...args].map(quote).join(' ')}`;
  return start('script', ['-qec', inner, '-E', 'never', '/dev/null']);
}

async function sleeper(image = ttyImage, extra: Parameters<typeof ctrConfig>[2] = {}): Promise<string> {
  return runCtr(d, podId, pod, ctrConfig(image, ['sleep', '100000'], extra));
}

async function state(id: string): Promise<string | undefined> {
  return (await call(d.client.runtime, 'ContainerStatus', { container_id: id })).status?.state;
}

describe.each(TRANSPORTS)('crictl exec over %s', (transport) => {
  it('exec -i: stdin in, stdout and stderr out, the exit code back', async () => {
    const id = await sleeper(images.busybox);
    const r = await crictl(['exec', '-i', '--transport', transport, id, 'sh', '-c', 'cat; echo to-stderr >&2; exit 3'], 'piped in\n');
    expect(r.stdout).toBe('piped in\n');
    expect(r.stderr).toMatch(/^to-stderr\n.*command terminated with exit code 3\n$/);
    expect(r.code).toBe(1); // crictl's own exit code for any failure
    const ok = await crictl(['exec', '-i', '--transport', transport, id, 'cat'], 'round trip\n');
    expect(ok).toMatchObject({ code: 0, stdout: 'round trip\n' });
  });

  it('exec -it: the terminal is the container\'s own /dev/pts/N and only the process output comes back', async () => {
    const id = await sleeper();
    const p = onTerminal(['exec', '-it', '--transport', transport, id, 'sh', '-c', 'tty; ls -1 /dev/pts; test -t 0 && echo stdin-is-a-tty'], { rows: 24, cols: 80 });
    expect(await p.exited).toBe(0);
    const lines = p.out().split('\r\n');
    const pts = lines[0] ?? '';
    expect(pts).toMatch(/^\/dev\/pts\/\d+$/);
    // The name is one of the container's own devpts entries, not a host pty.
    expect(lines.slice(1, -2)).toContain(pts.replace('/dev/pts/', ''));
    expect(lines.slice(-2)).toEqual(['stdin-is-a-tty', '']);
  });

  it('exec -it: a command sees the client\'s window size from its first instruction', async () => {
    const id = await sleeper();
    // Several runs: a size applied only after the process started showed up as 0 0 now and then.
    for (let i = 0; i < 5; i++) {
      const p = onTerminal(['exec', '-it', '--transport', transport, id, 'stty', 'size'], { rows: 33, cols: 111 });
      expect(await p.exited).toBe(0);
      expect(p.out()).toBe('33 111\r\n');
    }
  });

  it('exec -it: the window size and its changes reach the process; the exit code comes back', async () => {
    const id = await sleeper();
    const trigger = t.dir().join(`resize-${transport}`);
    const p = onTerminal(['exec', '-it', '--transport', transport, id, 'sh'], { rows: 31, cols: 101, resizeTo: [43, 132], resizeTrigger: trigger });
    const ask = async (size: string): Promise<boolean> => {
      p.child.stdin?.write('stty size\n');
      return waitFor(`stty size = ${size}`, () => p.out().includes(`\r\n${size}\r\n`), 1000).then(() => true, () => false);
    };
    await waitFor('the initial size', () => ask('31 101'), 15_000);
    await writeFile(trigger, '');
    await waitFor('the new size', () => ask('43 132'), 15_000);
    p.child.stdin?.write('exit 7\n');
    expect(await p.exited).toBe(1);
    expect(p.out()).toMatch(/command terminated with exit code 7\r\n$/);
  });

  it('exec -it: a client that goes away takes the process and the helper with it', async () => {
    const id = await sleeper();
    const marker = `${30000 + (process.pid % 1000)}${transport.length}`;
    const p = onTerminal(['exec', '-it', '--transport', transport, id, 'sleep', marker], { rows: 24, cols: 80 });
    const running = async (): Promise<boolean> => (await call(d.client.runtime, 'ExecSync', { container_id: id, cmd: ['ps'], timeout: 10 })).stdout.toString().includes(`sleep ${marker}`);
    await waitFor('the exec to run', running);
    const helpers = (): number[] => pidsOf(`nexcage-pty -i -s ${t.dir().path}`).filter((pid) => processAlive(pid));
    expect(helpers().length).toBeGreaterThan(0);
    // The client dies without a word (script, its terminal, follows).
    for (const pid of pidsOf(`exec -it --transport ${transport} ${id}`)) process.kill(pid, 'SIGKILL');
    await p.exited;
    await waitFor('the exec process to be killed', async () => !(await running()));
    await waitFor('no nexcage-pty left', () => helpers().length === 0);
  });
});

/** Processes whose command line contains `needle`. */
function pidsOf(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(needle)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

describe.each(TRANSPORTS)('crictl attach over %s', (transport) => {
  it('attach -i ends when the client\'s stdin ends; the container keeps running with its stdin open', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sh', '-c', 'while read l; do echo "got $l"; done; echo stdin-closed'], { stdin: true, stdin_once: false }));
    const first = await crictl(['attach', '-i', '--transport', transport, id], 'hi\n');
    expect(first.code).toBe(0);
    expect(first.ms).toBeLessThan(1000);
    expect(await state(id)).toBe('CONTAINER_RUNNING');
    const again = await crictl(['attach', '-i', '--transport', transport, id], 'again\n');
    expect(again.code).toBe(0);
    // Both lines reached the same shell: its stdin stayed open after the first session.
    await waitFor('both lines in the log', async () => /got hi\n[^]*got again\n/.test((await crictl(['logs', id])).stdout));
    expect(await state(id)).toBe('CONTAINER_RUNNING');
    expect((await crictl(['logs', id])).stdout).not.toContain('stdin-closed');
  });

  it('stdin_once: the client\'s stdin end closes the container\'s stdin; the session ends when the container exits', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sh', '-c', 'while read l; do echo "got $l"; done; echo stdin-closed'], { stdin: true, stdin_once: true }));
    const r = await crictl(['attach', '-i', '--transport', transport, id], 'one\ntwo\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('got one\ngot two\nstdin-closed\n');
    await waitFor('the container to exit', async () => (await state(id)) === 'CONTAINER_EXITED');
    expect((await call(d.client.runtime, 'ContainerStatus', { container_id: id })).status?.exit_code).toBe(0);
  });
});

describe.each(TRANSPORTS)('crictl port-forward over %s', (transport) => {
  it('forwards a local port to a server in the pod', async () => {
    const port = transport === 'spdy' ? 8099 : 8098;
    await runCtr(d, podId, pod, ctrConfig(images.busybox, ['nc', '-ll', '-p', String(port), '-e', 'echo', 'pong']));
    const local = await freePort();
    const p = start(CRICTL, ['--config', crictlConfig, 'port-forward', '--transport', transport, podId, `${local}:${port}`]);
    await waitFor('crictl to listen', () => p.out().includes(`Forwarding from 127.0.0.1:${local} -> ${port}`) || (p.child.exitCode !== null && Promise.reject(new Error(p.err()))));
    // A client that sends nothing and half-closes: the server's answer, then its close, come back.
    const answer = async (): Promise<string> =>
      new Promise((resolve, reject) => {
        let got = '';
        const s = connect(local, '127.0.0.1', () => s.end());
        s.setTimeout(10_000, () => s.destroy(new Error(`no answer within 10 s (got ${JSON.stringify(got)})`)));
        s.on('data', (b: Buffer) => (got += b.toString()));
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
    // The first connection may come before the server listens.
    expect(await waitFor('pong through the forwarded port', async () => ((await answer()) === 'pong\n' ? 'pong\n' : undefined))).toBe('pong\n');
    expect(await Promise.all([answer(), answer()])).toEqual(['pong\n', 'pong\n']);
    p.child.kill('SIGINT');
    await p.exited;
  });
});

describe('crictl logs -f', () => {
  it('follows new lines and ends when the container exits', async () => {
    const script = 'echo first; while ! test -e /tmp/go; do sleep 0.05; done; echo second; while ! test -e /tmp/end; do sleep 0.05; done; echo last';
    const id = await runCtr(d, podId, pod, ctrConfig(ttyImage, ['sh', '-c', script]));
    const p = start(CRICTL, ['--config', crictlConfig, 'logs', '-f', id]);
    await waitFor('the first line', () => p.out() === 'first\n');
    await call(d.client.runtime, 'ExecSync', { container_id: id, cmd: ['touch', '/tmp/go'], timeout: 10 });
    await waitFor('a line written after logs -f started', () => p.out() === 'first\nsecond\n');
    await call(d.client.runtime, 'ExecSync', { container_id: id, cmd: ['touch', '/tmp/end'], timeout: 10 });
    expect(await p.exited).toBe(0);
    expect(p.out()).toBe('first\nsecond\nlast\n');
    expect(await state(id)).toBe('CONTAINER_EXITED');
  });
});
