// Streaming end to end, in process: the streaming server with its real backends — exec
// through `runc exec` into a busybox container this file creates with runc, port-forward through
// nsenter+socat into a network namespace this file creates — driven by independent clients: the
// SPDY/3.1 client in test/support (speaking like Kubernetes' spdystream) and `ws`. The daemon
// cannot serve these URLs yet because containers do not exist in it; the CRI wiring waits for them.
import { spawn, type ChildProcess } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../src/lib/errors.js';
import { run } from '../../src/lib/exec.js';
import { silentLogger } from '../../src/lib/log.js';
import { registry } from '../../src/lib/metrics.js';
import { ConmonAttachBackend } from '../../src/runtime/streaming/conmon-attach.js';
import { NetnsPortForwarder } from '../../src/runtime/streaming/netns-port-forward.js';
import { RuncExecBackend } from '../../src/runtime/streaming/runc-exec.js';
import { StreamingService } from '../../src/runtime/streaming/streaming-service.js';
import { SpdyClient, type ClientStream } from '../support/spdy-client.js';
import { REPO, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
const CID = `nexcage-stream-${process.pid}`;
const NS = `nexcage-stream-${process.pid}`;
const ECHO_PORT = 7777;
let runcRoot = '';
let svc: StreamingService;
let listener: ChildProcess | undefined;
const log = silentLogger();

const containers = {
  async locate(id: string) {
    if (id === 'stopped') throw new FailedPreconditionError(`container "${id}" is not running`);
    if (id !== CID) throw new NotFoundError(`container "${id}" not found`);
    return { runtimePath: 'runc', runtimeArgs: ['--root', runcRoot], bundle: t.dir().join('bundle') };
  },
};
const ACID = `nexcage-attach-${process.pid}`;
const TCID = `nexcage-attach-tty-${process.pid}`;
const attachable = {
  async locateAttach(id: string) {
    if (id !== ACID && id !== TCID) throw new NotFoundError(`container "${id}" not found`);
    return {
      attachSocket: t.dir().join('sock', id, 'attach'),
      stdin: true, // both are started with conmon --stdin
      stdinOnce: true, // and without --leave-stdin-open
      // conmon's ctl FIFO, as the container monitor writes it: `1 <height> <width>`
      resize: async (width: number, height: number) => {
        const fh = await open(t.dir().join(`bundle-${id}`, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
        await fh.write(`1 ${height} ${width}\n`);
        await fh.close();
      },
    };
  },
};
const sandboxes = {
  async netnsPath(id: string): Promise<string | null> {
    if (id === 'pod') return `/run/netns/${NS}`;
    if (id === 'hostpod') return null;
    throw new NotFoundError(`pod sandbox "${id}" not found`);
  },
};

function service(extra: Partial<ConstructorParameters<typeof StreamingService>[0]> = {}): StreamingService {
  return new StreamingService(
    { address: '127.0.0.1', port: 0, tlsCert: '', tlsKey: '', idleTimeoutMs: 60_000, ...extra },
    {
      exec: new RuncExecBackend(containers, { workDir: t.dir().join('exec'), log }),
      portForward: new NetnsPortForwarder(sandboxes, { log }),
      attach: new ConmonAttachBackend(attachable, { log }),
    },
    log,
  );
}

async function openFds(): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) out.push(await readlink(`/proc/self/fd/${fd}`).catch(() => 'gone'));
  return out.filter((l) => l.startsWith('socket:') || l.startsWith('pipe:')).sort();
}
let fdsBefore: string[] = [];

beforeAll(async () => {
  const dir = t.dir();
  runcRoot = dir.join('runc');
  const bundle = dir.join('bundle');
  await mkdir(join(bundle, 'rootfs/bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'etc']) await mkdir(join(bundle, 'rootfs', d), { recursive: true });
  await copyFile('/bin/busybox', join(bundle, 'rootfs/bin/busybox'));
  for (const applet of (await run('/bin/busybox', ['--list'])).stdout.split('\n')) {
    if (applet !== '' && applet !== 'busybox') await symlink('busybox', join(bundle, 'rootfs/bin', applet));
  }
  await run('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; terminal: boolean }; root: { readonly: boolean } };
  spec.process.args = ['sleep', '3600'];
  spec.process.terminal = false;
  spec.root.readonly = false;
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  // Not run(): the detached container keeps runc's stdio open, so no pipes for it.
  const runc = spawn('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', bundle, CID], { stdio: 'ignore' });
  const code = await new Promise<number | null>((r) => runc.on('exit', r));
  if (code !== 0) throw new Error(`runc run exited with ${code}`);
  await run('ip', ['netns', 'add', NS]);
  await run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
  listener = spawn('ip', ['netns', 'exec', NS, 'socat', `TCP-LISTEN:${ECHO_PORT},fork,reuseaddr`, 'EXEC:cat'], { stdio: 'ignore' });
  await waitFor('the echo server in the namespace', async () => (await run('ip', ['netns', 'exec', NS, 'ss', '-ltn'])).stdout.includes(`:${ECHO_PORT}`));
  fdsBefore = await openFds();
  svc = service();
  await svc.start();
});

afterAll(async () => {
  await svc?.stop();
  listener?.kill('SIGKILL');
  await run('runc', ['--root', runcRoot, 'delete', '--force', CID], { allowFailure: true });
  await run('ip', ['netns', 'del', NS], { allowFailure: true });
  for (const id of [ACID, TCID]) await run('runc', ['--root', runcRoot, 'delete', '--force', id], { allowFailure: true });
});

interface Exec {
  stdout: string;
  stderr: string;
  status: Record<string, unknown>;
}

/** Exec as client-go's v4 executor does: error stream first, then stdin/stdout/stderr/resize. */
async function spdyExec(url: string, o: { stdin?: string; tty?: boolean; stderr?: boolean }): Promise<Exec> {
  const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io', 'v3.channel.k8s.io'] });
  expect(c.protocol).toBe('v4.channel.k8s.io');
  const error = await c.createStream({ streamType: 'error' });
  const stdin = o.stdin !== undefined ? await c.createStream({ streamType: 'stdin' }) : undefined;
  const stdout = await c.createStream({ streamType: 'stdout' });
  const stderr = o.stderr !== false && !o.tty ? await c.createStream({ streamType: 'stderr' }) : undefined;
  if (stdin) {
    await stdin.write(o.stdin ?? '');
    await stdin.end();
  }
  const [out, err, status] = await Promise.all([stdout.all(), stderr?.all(), error.all()]);
  c.close();
  return { stdout: out.toString(), stderr: err?.toString() ?? '', status: JSON.parse(status.toString()) as Record<string, unknown> };
}

describe('exec over SPDY/3.1 (v4.channel.k8s.io)', () => {
  it('separates stdout and stderr and reports exit code 0 as Success', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['sh', '-c', 'echo out; echo err >&2'], tty: false, stdin: false, stdout: true, stderr: true });
    const r = await spdyExec(url, {});
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.status).toEqual({ metadata: {}, status: 'Success' });
  });

  it('reports a non-zero exit code as a NonZeroExitCode Status with an ExitCode cause', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['sh', '-c', 'echo partial; exit 3'], tty: false, stdin: false, stdout: true, stderr: true });
    const r = await spdyExec(url, {});
    expect(r.stdout).toBe('partial\n');
    expect(r.status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  it('pipes stdin to cat and ends it when the client half-closes', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['cat'], tty: false, stdin: true, stdout: true, stderr: false });
    const text = 'hello from stdin\n'.repeat(5000);
    const r = await spdyExec(url, { stdin: text, stderr: false });
    expect(r.stdout).toBe(text);
    expect(r.status.status).toBe('Success');
  });

  it('runs with a tty, applies resize events (stty size) and delivers the exit code', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['sh'], tty: true, stdin: true, stdout: true, stderr: false });
    const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    const error = await c.createStream({ streamType: 'error' });
    const stdin = await c.createStream({ streamType: 'stdin' });
    const stdout = await c.createStream({ streamType: 'stdout' });
    const resize = await c.createStream({ streamType: 'resize' });
    await resize.write(JSON.stringify({ Width: 100, Height: 30 }) + '\n');
    await stdin.write('stty size\n');
    const seen = (what: string) => () => stdout.text().includes(what) || (stdout.remoteFin && Promise.reject(new Error(`stdout ended: ${stdout.text()} / ${error.text()}`)));
    await waitFor('stty to show 30 100', seen('30 100'), 10_000).catch((e: Error) => {
      throw new Error(`${e.message}; stdout so far: ${JSON.stringify(stdout.text())}; error: ${error.text()}`);
    });
    await resize.write(JSON.stringify({ Width: 132, Height: 43 }) + '\n');
    await stdin.write('stty size\n');
    await waitFor('stty to show 43 132', seen('43 132'), 10_000);
    await stdin.write('exit 5\n');
    const status = JSON.parse((await error.all()).toString()) as Record<string, unknown>;
    expect(status).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } });
    c.close();
  });

  it('with a tty, a command that cannot start is an error naming the cause, with nothing on the terminal', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['/no/such/binary'], tty: true, stdin: true, stdout: true, stderr: false });
    const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    const error = await c.createStream({ streamType: 'error' });
    await c.createStream({ streamType: 'stdin' });
    const stdout = await c.createStream({ streamType: 'stdout' });
    await c.createStream({ streamType: 'resize' });
    const status = JSON.parse((await error.all()).toString()) as { status: string; message: string };
    c.close();
    expect(status.status).toBe('Failure');
    expect(status.message).toMatch(/^Internal error occurred: exec in container "[^"]+" failed: [^{}]*\/no\/such\/binary[^{}]*no such file or directory$/);
    expect(stdout.text()).toBe('');
  });

  it('runs several execs into one container at once', async () => {
    const urls = await Promise.all([1, 2, 3].map((i) => svc.exec({ containerId: CID, cmd: ['sh', '-c', `sleep 0.3; echo ${i}`], tty: false, stdin: false, stdout: true, stderr: true })));
    const results = await Promise.all(urls.map((u) => spdyExec(u, {})));
    expect(results.map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n']);
  });

  it('kills the exec process when the client goes away', async () => {
    const marker = `${40000 + (process.pid % 1000)}`;
    const url = await svc.exec({ containerId: CID, cmd: ['sleep', marker], tty: false, stdin: false, stdout: true, stderr: true });
    const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    await c.createStream({ streamType: 'error' });
    await c.createStream({ streamType: 'stdout' });
    await c.createStream({ streamType: 'stderr' });
    const running = async (): Promise<boolean> => (await run('runc', ['--root', runcRoot, 'exec', CID, 'ps'])).stdout.includes(`sleep ${marker}`);
    await waitFor('the exec process to start', running);
    c.socket.destroy();
    await waitFor('the exec process to be killed', async () => !(await running()));
  });

  it('negotiates v2 for old clients and sends only the message text on failure', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['sh', '-c', 'exit 7'], tty: false, stdin: false, stdout: true, stderr: true });
    const c = await SpdyClient.connect(url, { protocols: ['v2.channel.k8s.io'] });
    expect(c.protocol).toBe('v2.channel.k8s.io');
    const error = await c.createStream({ streamType: 'error' });
    await c.createStream({ streamType: 'stdout' });
    await c.createStream({ streamType: 'stderr' });
    expect((await error.all()).toString()).toMatch(/non-zero exit code.*7/);
    c.close();
  });

  it('refuses a protocol it does not speak with 403', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false });
    await expect(SpdyClient.connect(url, { protocols: ['v9.channel.k8s.io'] })).rejects.toMatchObject({ status: 403 });
  });
});

describe('exec over WebSocket', () => {
  function wsOpen(url: string, protocol: string): Promise<{ ws: WebSocket; frames: Buffer[]; closed: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), [protocol]);
      const frames: Buffer[] = [];
      const closed = new Promise<void>((r) => ws.on('close', () => r()));
      ws.on('message', (d: Buffer, binary: boolean) => frames.push(binary ? d : Buffer.from(d.toString())));
      ws.on('open', () => resolve({ ws, frames, closed }));
      ws.on('error', reject);
    });
  }
  const channel = (frames: Buffer[], ch: number): string =>
    Buffer.concat(frames.filter((f) => f[0] === ch).map((f) => f.subarray(1))).toString();

  it('v5.channel.k8s.io: stdout/stderr channels, exit status, and the stdin close signal', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['sh', '-c', 'cat; echo done >&2; exit 2'], tty: false, stdin: true, stdout: true, stderr: true });
    const { ws, frames, closed } = await wsOpen(url, 'v5.channel.k8s.io');
    expect(ws.protocol).toBe('v5.channel.k8s.io');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('piped\n')]));
    ws.send(Buffer.from([255, 0]));
    await closed;
    expect(channel(frames, 1)).toBe('piped\n');
    expect(channel(frames, 2)).toBe('done\n');
    expect(JSON.parse(channel(frames, 3))).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } });
  });

  it.each(['v4.channel.k8s.io', 'channel.k8s.io'])('%s: binary channel frames; exit status as Status (v4) or message text (older)', async (protocol) => {
    const url = await svc.exec({ containerId: CID, cmd: ['sh', '-c', 'echo o; echo e >&2; exit 9'], tty: false, stdin: false, stdout: true, stderr: true });
    const { ws, frames, closed } = await wsOpen(url, protocol);
    expect(ws.protocol).toBe(protocol);
    await closed;
    expect(channel(frames, 1)).toBe('o\n');
    expect(channel(frames, 2)).toBe('e\n');
    if (protocol.startsWith('v4.')) expect(JSON.parse(channel(frames, 3))).toMatchObject({ details: { causes: [{ reason: 'ExitCode', message: '9' }] } });
    else expect(channel(frames, 3)).toMatch(/^command terminated with non-zero exit code.*9$/);
  });

  it('v4.base64.channel.k8s.io: text frames with a channel digit and base64 data', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['echo', 'b64'], tty: false, stdin: false, stdout: true, stderr: true });
    const { frames, closed } = await wsOpen(url, 'v4.base64.channel.k8s.io');
    await closed;
    const out = frames.filter((f) => f.toString()[0] === '1').map((f) => Buffer.from(f.subarray(1).toString(), 'base64').toString()).join('');
    expect(out).toBe('b64\n');
    const status = frames.filter((f) => f.toString()[0] === '3').map((f) => Buffer.from(f.subarray(1).toString(), 'base64').toString()).join('');
    expect(JSON.parse(status)).toEqual({ metadata: {}, status: 'Success' });
  });
});

async function portForwardPair(c: SpdyClient, requestID: string, port: number): Promise<{ data: ClientStream; error: ClientStream }> {
  const error = await c.createStream({ streamType: 'error', port: String(port), requestID });
  await error.end(); // kubectl closes its side of the error stream at once
  const data = await c.createStream({ streamType: 'data', port: String(port), requestID });
  return { data, error };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('port-forward over SPDY/3.1 (portforward.k8s.io)', () => {
  it.each([false, true])('moves 10 MB both ways intact through a server in the pod (strict flow control: %s)', async (flowControl) => {
    const url = await svc.portForward({ sandboxId: 'pod', ports: [ECHO_PORT] });
    const c = await SpdyClient.connect(url, { protocols: ['portforward.k8s.io'], flowControl });
    expect(c.protocol).toBe('portforward.k8s.io');
    const { data, error } = await portForwardPair(c, '0', ECHO_PORT);
    const payload = randomBytes(10 * 1024 * 1024);
    await data.write(payload);
    await data.end();
    const back = await data.all();
    expect(back.length).toBe(payload.length);
    expect(sha(back)).toBe(sha(payload));
    expect((await error.all()).toString()).toBe('');
    c.close();
    await c.waitClosed();
  });

  it('runs two connections at once on one session', async () => {
    const url = await svc.portForward({ sandboxId: 'pod', ports: [ECHO_PORT] });
    const c = await SpdyClient.connect(url, { protocols: ['portforward.k8s.io'] });
    const pairs = await Promise.all([portForwardPair(c, '1', ECHO_PORT), portForwardPair(c, '2', ECHO_PORT)]);
    const payloads = [randomBytes(3 * 1024 * 1024), randomBytes(3 * 1024 * 1024)];
    await Promise.all(pairs.map(async (p, i) => {
      await p.data.write(payloads[i] as Buffer);
      await p.data.end();
    }));
    const backs = await Promise.all(pairs.map((p) => p.data.all()));
    expect(backs.map(sha)).toEqual(payloads.map(sha));
    c.close();
  });

  it('reports a clean error on the error stream when nothing listens on the port', async () => {
    const url = await svc.portForward({ sandboxId: 'pod', ports: [] });
    const c = await SpdyClient.connect(url, { protocols: ['portforward.k8s.io'] });
    const { data, error } = await portForwardPair(c, '0', 1);
    const msg = (await error.all()).toString();
    expect(msg).toMatch(/^error forwarding port 1 to pod pod: .*Connection refused/);
    await data.all();
    c.close();
  });
});

describe('port-forward to a hostNetwork pod', () => {
  it('connects on the host (no namespace) and carries data both ways', async () => {
    const server = createTcpServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const url = await svc.portForward({ sandboxId: 'hostpod', ports: [port] });
      const c = await SpdyClient.connect(url, { protocols: ['portforward.k8s.io'] });
      const { data } = await portForwardPair(c, '0', port);
      await data.write('host network\n');
      await data.end();
      expect((await data.all()).toString()).toBe('host network\n');
      c.close();
      await c.waitClosed();
    } finally {
      server.close();
    }
  });
});

describe('stream creation timeout', () => {
  it('closes the session and runs nothing when the client does not create its streams in time', async () => {
    const quick = service({ streamCreationTimeoutMs: 300 });
    await quick.start();
    try {
      const marker = `${50000 + (process.pid % 1000)}`;
      const url = await quick.exec({ containerId: CID, cmd: ['sleep', marker], tty: false, stdin: false, stdout: true, stderr: true });
      const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
      await c.createStream({ streamType: 'error' }); // stdout and stderr never come
      await c.waitClosed();
      expect((await run('runc', ['--root', runcRoot, 'exec', CID, 'ps'])).stdout).not.toContain(`sleep ${marker}`);
    } finally {
      await quick.stop();
    }
  });
});

describe('idle timeout', () => {
  it('closes a WebSocket session that moves nothing and kills its process', async () => {
    const idle = service({ idleTimeoutMs: 300 });
    await idle.start();
    try {
      const marker = `${60000 + (process.pid % 1000)}`;
      const url = await idle.exec({ containerId: CID, cmd: ['sleep', marker], tty: false, stdin: true, stdout: true, stderr: true });
      const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
      await new Promise<void>((r) => ws.on('close', () => r()));
      const running = async (): Promise<boolean> => (await run('runc', ['--root', runcRoot, 'exec', CID, 'ps'])).stdout.includes(`sleep ${marker}`);
      await waitFor('the idle exec to be killed', async () => !(await running()));
    } finally {
      await idle.stop();
    }
  });
});

describe('TLS', () => {
  it('serves https URLs with the configured certificate', async () => {
    const dir = t.dir();
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', dir.join('tls.key'), '-out', dir.join('tls.crt')]);
    const secure = service({ tlsCert: dir.join('tls.crt'), tlsKey: dir.join('tls.key') });
    await secure.start();
    try {
      expect(secure.baseUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const url = await secure.exec({ containerId: CID, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: true });
      const status = await new Promise<number>((resolve, reject) => {
        httpsGet(url, { ca: readFileSync(dir.join('tls.crt')) }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      // Reached over verified TLS; a plain GET is no upgrade, so 400 (and the token is spent).
      expect(status).toBe(400);
    } finally {
      await secure.stop();
    }
  });
});

describe('port-forward over WebSocket', () => {
  it('v4.channel.k8s.io: port prefix on both channels, then data through the pod', async () => {
    const url = await svc.portForward({ sandboxId: 'pod', ports: [] });
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?port=${ECHO_PORT}`, ['v4.channel.k8s.io']);
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer) => frames.push(d));
    await new Promise((r, j) => {
      ws.on('open', r);
      ws.on('error', j);
    });
    const le = Buffer.alloc(2);
    le.writeUInt16LE(ECHO_PORT);
    await waitFor('the port prefixes', () => frames.length >= 2);
    expect(frames[0]).toEqual(Buffer.concat([Buffer.from([0]), le]));
    expect(frames[1]).toEqual(Buffer.concat([Buffer.from([1]), le]));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping over ws\n')]));
    await waitFor('the echo', () => Buffer.concat(frames.slice(2).filter((f) => f[0] === 0).map((f) => f.subarray(1))).toString() === 'ping over ws\n');
    ws.close();
  });
});

describe('tokens and validation', () => {
  it('refuses a reused token and an unknown one with 404, and runs nothing', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: true });
    await spdyExec(url, {});
    await expect(SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] })).rejects.toMatchObject({ status: 404 });
    await expect(SpdyClient.connect(url.replace(/[^/]+$/, 'bm90LWEtdG9rZW4'), { protocols: ['v4.channel.k8s.io'] })).rejects.toMatchObject({ status: 404 });
  });

  it('refuses a token used after its TTL (shortened here to 300 ms)', async () => {
    const short = service({ tokenTtlMs: 300 });
    await short.start();
    try {
      const url = await short.exec({ containerId: CID, cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: true });
      await new Promise((r) => setTimeout(r, 400)); // the expiry itself is what is tested
      await expect(SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] })).rejects.toMatchObject({ status: 404 });
    } finally {
      await short.stop();
    }
  });

  it('validates requests like the CRI says and looks the container up', async () => {
    await expect(svc.exec({ containerId: CID, cmd: ['sh'], tty: true, stdin: true, stdout: true, stderr: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(svc.exec({ containerId: CID, cmd: ['sh'], tty: false, stdin: false, stdout: false, stderr: false })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(svc.exec({ containerId: 'nope', cmd: ['sh'], tty: false, stdin: false, stdout: true, stderr: false })).rejects.toBeInstanceOf(NotFoundError);
    await expect(svc.exec({ containerId: 'stopped', cmd: ['sh'], tty: false, stdin: false, stdout: true, stderr: false })).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(svc.portForward({ sandboxId: 'nope', ports: [80] })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('counts sessions by kind and result, open sessions, and bytes', async () => {
    const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
      const m = (await registry.getSingleMetric(name)?.get())?.values ?? [];
      return m.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
    };
    expect(await metric('nexcage_streaming_sessions_total', { kind: 'exec', transport: 'spdy', result: 'success' })).toBeGreaterThan(0);
    expect(await metric('nexcage_streaming_sessions_total', { kind: 'exec', transport: 'spdy', result: 'exit_nonzero' })).toBeGreaterThan(0);
    expect(await metric('nexcage_streaming_sessions_total', { kind: 'exec', transport: 'websocket', result: 'exit_nonzero' })).toBeGreaterThan(0);
    expect(await metric('nexcage_streaming_sessions_total', { kind: 'exec', result: 'rejected' })).toBeGreaterThanOrEqual(3);
    expect(await metric('nexcage_streaming_sessions_total', { kind: 'portforward', transport: 'spdy', result: 'error' })).toBeGreaterThan(0);
    expect(await metric('nexcage_streaming_bytes_total', { kind: 'portforward', direction: 'in' })).toBeGreaterThan(10 * 1024 * 1024);
    expect(await metric('nexcage_streaming_bytes_total', { kind: 'portforward', direction: 'out' })).toBeGreaterThan(10 * 1024 * 1024);
    await waitFor('no session open', async () => (await metric('nexcage_streaming_active_sessions', {})) === 0);
  });

  it('leaves no socket, pipe or exec pid file behind', async () => {
    await waitFor('sockets and pipes back to where they were', async () => {
      const now = await openFds();
      // the listening socket of the service is the one expected extra
      return now.length <= fdsBefore.length + 1;
    });
    expect(await readdir(t.dir().join('exec'))).toEqual([]);
  });
});

// The real Kubernetes SPDY client library (moby/spdystream, Debian's
// golang-github-docker-spdystream-dev) driving this server the way client-go does.
describe('interop with moby/spdystream, the SPDY library of kubelet and client-go', () => {
  let bin = '';
  beforeAll(async () => {
    bin = t.dir().join('spdystream-interop');
    await run('go', ['build', '-o', bin, join(REPO, 'test/interop/spdystream/main.go')], {
      env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '' },
      timeoutMs: 240_000,
    });
  }, 300_000);

  it('exec v4: stdin, separated stdout/stderr, exit code in the Status', async () => {
    const url = await svc.exec({ containerId: CID, cmd: ['sh', '-c', 'cat; echo err >&2; exit 4'], tty: false, stdin: true, stdout: true, stderr: true });
    const out = JSON.parse((await run(bin, ['exec', url, 'from go\n'], { timeoutMs: 30_000 })).stdout) as Record<string, string>;
    expect(out.protocol).toBe('v4.channel.k8s.io');
    expect(out.stdout).toBe('from go\n');
    expect(out.stderr).toBe('err\n');
    expect(JSON.parse(out.status ?? '')).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '4' }] } });
  });

  it('port-forward: 10 MB both ways intact', async () => {
    const url = await svc.portForward({ sandboxId: 'pod', ports: [ECHO_PORT] });
    const out = JSON.parse((await run(bin, ['portforward', url, String(ECHO_PORT), String(10 * 1024 * 1024)], { timeoutMs: 60_000 })).stdout) as Record<string, string>;
    expect(out.protocol).toBe('portforward.k8s.io');
    expect(out.receivedBytes).toBe(String(10 * 1024 * 1024));
    expect(out.received).toBe(out.sent);
    expect(out.error).toBe('');
  });
});

// Attach to a container whose stdio conmon holds, as the container engineer's monitor runs it.
describe('attach through conmon\'s attach socket', () => {
  async function conmonContainer(id: string, args: string[], terminal: boolean): Promise<void> {
    const dir = t.dir();
    const bundle = dir.join(`bundle-${id}`);
    await mkdir(bundle, { recursive: true });
    const spec = JSON.parse(await readFile(dir.join('bundle', 'config.json'), 'utf8')) as { process: { args: string[]; terminal: boolean }; root: { path: string } };
    spec.process.args = args;
    spec.process.terminal = terminal;
    spec.root.path = dir.join('bundle', 'rootfs');
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    await mkdir(dir.join('sock'), { recursive: true });
    await mkdir(dir.join('exits'), { recursive: true });
    const conmonArgs = ['--api-version', '1', '--cid', id, '--cuuid', id, '--name', id, '--runtime', '/usr/sbin/runc', '--bundle', bundle,
      '--container-pidfile', join(bundle, 'pid'), '--conmon-pidfile', join(bundle, 'conmon.pid'), '--log-path', `k8s-file:${join(bundle, 'log')}`,
      '--exit-dir', dir.join('exits'), '--socket-dir-path', dir.join('sock'), '--log-level', 'error', '--stdin',
      '--runtime-arg', '--root', '--runtime-arg', runcRoot, ...(terminal ? ['--terminal'] : [])];
    const conmon = spawn('conmon', conmonArgs, { stdio: 'ignore' });
    await new Promise((r) => conmon.on('exit', r));
    await waitFor('conmon to create the container', async () => (await run('runc', ['--root', runcRoot, 'state', id], { allowFailure: true })).stdout.includes('"created"'));
    await run('runc', ['--root', runcRoot, 'start', id]);
  }
  const stopped = async (id: string): Promise<boolean> => (await run('runc', ['--root', runcRoot, 'state', id], { allowFailure: true })).stdout.includes('"stopped"');

  beforeAll(async () => {
    await conmonContainer(ACID, ['sh', '-c', 'while read l; do echo "got $l"; echo "err $l" >&2; done; echo bye'], false);
    await conmonContainer(TCID, ['sh'], true);
  });

  it('streams stdout and stderr, feeds stdin, closes stdin on half-close (stdin_once), reports Success on exit', async () => {
    const url = await svc.attach({ containerId: ACID, tty: false, stdin: true, stdout: true, stderr: true });
    const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    const error = await c.createStream({ streamType: 'error' });
    const stdin = await c.createStream({ streamType: 'stdin' });
    const stdout = await c.createStream({ streamType: 'stdout' });
    const stderr = await c.createStream({ streamType: 'stderr' });
    await stdin.write('one\n');
    await waitFor('the container to answer on stdout and stderr', () => stdout.text() === 'got one\n' && stderr.text() === 'err one\n');
    await stdin.end();
    expect((await stdout.all()).toString()).toBe('got one\nbye\n');
    expect(JSON.parse((await error.all()).toString())).toEqual({ metadata: {}, status: 'Success' });
    c.close();
    await waitFor('the container to exit', () => stopped(ACID));
  });

  it('with a tty: resizes through the ctl FIFO (stty size) and ends when the container exits', async () => {
    const url = await svc.attach({ containerId: TCID, tty: true, stdin: true, stdout: true, stderr: false });
    const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    const error = await c.createStream({ streamType: 'error' });
    const stdin = await c.createStream({ streamType: 'stdin' });
    const stdout = await c.createStream({ streamType: 'stdout' });
    const resize = await c.createStream({ streamType: 'resize' });
    await resize.write(JSON.stringify({ Width: 111, Height: 33 }) + '\n');
    await waitFor('the resize to reach the terminal', async () => {
      await stdin.write('stty size\n');
      await new Promise((r) => setTimeout(r, 100));
      return stdout.text().includes('33 111');
    });
    await stdin.write('exit 3\n');
    expect(JSON.parse((await error.all()).toString())).toEqual({ metadata: {}, status: 'Success' });
    c.close();
    await waitFor('the container to exit', () => stopped(TCID));
  });
});
