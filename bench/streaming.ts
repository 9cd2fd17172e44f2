// bench/streaming: what the streaming server costs over the raw tools it drives. The daemon cannot
// serve these URLs yet (containers do not exist in it), so this runs StreamingService in process
// with its real backends: a busybox container run with runc and a network namespace with an echo
// server, both made here and removed at the end. Clients: the test SPDY client (spdystream-like,
// no flow control), the same in strict flow-control mode, and `ws`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { NotFoundError } from '../src/lib/errors.js';
import { run } from '../src/lib/exec.js';
import { silentLogger } from '../src/lib/log.js';
import { NetnsPortForwarder } from '../src/runtime/streaming/netns-port-forward.js';
import { RuncExecBackend } from '../src/runtime/streaming/runc-exec.js';
import { StreamingService } from '../src/runtime/streaming/streaming-service.js';
import { SpdyClient } from '../test/support/spdy-client.js';
import { single, summarize, timeMs, type Row, type Suite } from './lib.js';

const EXEC_ROUNDS = 30;
const MB = 1024 * 1024;
const VOLUME = Number(process.env.NEXCAGE_BENCH_STREAMING_MB ?? 64) * MB;
const PORT = 7788;

async function setUp(dir: string, id: string, ns: string): Promise<{ runcRoot: string; listener: ChildProcess }> {
  const runcRoot = join(dir, 'runc');
  const bundle = join(dir, 'bundle');
  await mkdir(join(bundle, 'rootfs/bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'tmp']) await mkdir(join(bundle, 'rootfs', d), { recursive: true });
  await copyFile('/bin/busybox', join(bundle, 'rootfs/bin/busybox'));
  for (const a of (await run('/bin/busybox', ['--list'])).stdout.split('\n')) if (a && a !== 'busybox') await symlink('busybox', join(bundle, 'rootfs/bin', a));
  await run('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; terminal: boolean } };
  spec.process.args = ['sleep', '3600'];
  spec.process.terminal = false;
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  const r = spawn('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
  await new Promise((res) => r.on('exit', res));
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const listener = spawn('ip', ['netns', 'exec', ns, 'socat', `TCP-LISTEN:${PORT},fork,reuseaddr`, 'EXEC:cat'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await run('ip', ['netns', 'exec', ns, 'ss', '-ltn'])).stdout.includes(`:${PORT}`); i++) await new Promise((res) => setTimeout(res, 50));
  return { runcRoot, listener };
}

/** Push `VOLUME` bytes through an echo path and read them back; MB/s of payload each way. */
async function spdyEcho(svc: StreamingService, flowControl: boolean): Promise<number> {
  const url = await svc.portForward({ sandboxId: 'pod', ports: [PORT] });
  const c = await SpdyClient.connect(url, { protocols: ['portforward.k8s.io'], flowControl });
  const error = await c.createStream({ streamType: 'error', port: String(PORT), requestID: '0' });
  await error.end();
  const data = await c.createStream({ streamType: 'data', port: String(PORT), requestID: '0' });
  const ms = await timeMs(async () => {
    const chunk = randomBytes(MB);
    const sending = (async () => {
      for (let i = 0; i < VOLUME / MB; i++) await data.write(chunk);
      await data.end();
    })();
    const back = await data.all();
    await sending;
    if (back.length !== VOLUME) throw new Error(`echo returned ${back.length} bytes`);
  });
  c.close();
  return VOLUME / MB / (ms / 1000);
}

async function wsEcho(svc: StreamingService): Promise<number> {
  const url = await svc.portForward({ sandboxId: 'pod', ports: [] });
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?port=${PORT}`, ['v4.channel.k8s.io']);
  let got = 0;
  let prefixes = 0;
  const done = new Promise<void>((resolve) =>
    ws.on('message', (d: Buffer) => {
      if (prefixes < 2) return void prefixes++;
      if (d[0] === 0) got += d.length - 1;
      if (got >= VOLUME) resolve();
    }),
  );
  await new Promise((r) => ws.on('open', r));
  const ms = await timeMs(async () => {
    const chunk = Buffer.concat([Buffer.from([0]), randomBytes(MB)]);
    for (let i = 0; i < VOLUME / MB; i++) await new Promise<void>((r, j) => ws.send(chunk, (e) => (e ? j(e) : r())));
    await done;
  });
  ws.close();
  return VOLUME / MB / (ms / 1000);
}

/** The same echo through `ip netns exec ... socat` with no streaming server in between. */
async function rawEcho(ns: string): Promise<number> {
  const child = spawn('ip', ['netns', 'exec', ns, 'socat', '-t', '60', '-', `TCP4:127.0.0.1:${PORT}`], { stdio: ['pipe', 'pipe', 'ignore'] });
  let got = 0;
  const done = new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => (got += b.length) >= VOLUME && resolve()));
  const ms = await timeMs(async () => {
    const chunk = randomBytes(MB);
    for (let i = 0; i < VOLUME / MB; i++) if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
    child.stdin.end();
    await done;
  });
  child.kill();
  return VOLUME / MB / (ms / 1000);
}

export const suite: Suite = {
  name: 'streaming',
  async run(): Promise<Row[]> {
    const dir = await mkdtemp('/tmp/nexcage-bench-streaming-');
    const id = `nexcage-bench-${process.pid}`;
    const ns = `nexcage-bench-${process.pid}`;
    const log = silentLogger();
    const { runcRoot, listener } = await setUp(dir, id, ns);
    const svc = new StreamingService(
      { address: '127.0.0.1', port: 0, tlsCert: '', tlsKey: '', idleTimeoutMs: 0 },
      {
        exec: new RuncExecBackend({ locate: async () => ({ runtimePath: 'runc', runtimeArgs: ['--root', runcRoot], bundle: join(dir, 'bundle') }) }, { workDir: join(dir, 'exec'), log }),
        portForward: new NetnsPortForwarder(
          {
            netnsPath: async (p) => {
              if (p !== 'pod') throw new NotFoundError(p);
              return `/run/netns/${ns}`;
            },
          },
          { log },
        ),
      },
      log,
    );
    await svc.start();
    const rows: Row[] = [];
    const phase = (what: string): void => console.error(`streaming bench: ${what}`);
    try {
      phase('exec latency');
      const raw: number[] = [];
      for (let i = 0; i < EXEC_ROUNDS; i++) raw.push(await timeMs(() => run('runc', ['--root', runcRoot, 'exec', id, 'true'])));
      rows.push(summarize('runc exec true (baseline, no streaming)', 'ms', raw));
      const viaSpdy: number[] = [];
      for (let i = 0; i < EXEC_ROUNDS; i++) {
        viaSpdy.push(
          await timeMs(async () => {
            const url = await svc.exec({ containerId: id, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: true });
            const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
            const error = await c.createStream({ streamType: 'error' });
            await c.createStream({ streamType: 'stdout' });
            await c.createStream({ streamType: 'stderr' });
            await error.all();
            c.close();
          }),
        );
      }
      rows.push(summarize('exec true over SPDY v4 (URL + upgrade + 3 streams + Status)', 'ms', viaSpdy));
      phase('port-forward throughput');
      rows.push(single('port-forward echo, raw ip-netns-exec socat (baseline)', 'MB/s', await rawEcho(ns), `${VOLUME / MB} MiB each way`));
      phase('spdy');
      rows.push(single('port-forward echo over SPDY, client without flow control (spdystream-like)', 'MB/s', await spdyEcho(svc, false), `${VOLUME / MB} MiB each way`));
      phase('spdy strict');
      rows.push(single('port-forward echo over SPDY, strict flow-control client', 'MB/s', await spdyEcho(svc, true), `${VOLUME / MB} MiB each way`));
      phase('ws');
      rows.push(single('port-forward echo over WebSocket v4.channel.k8s.io', 'MB/s', await wsEcho(svc), `${VOLUME / MB} MiB each way`));
    } finally {
      await svc.stop();
      listener.kill('SIGKILL');
      await run('runc', ['--root', runcRoot, 'delete', '--force', id], { allowFailure: true });
      await run('ip', ['netns', 'del', ns], { allowFailure: true });
      await rm(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
