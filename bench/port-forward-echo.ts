// Port-forward throughput as a user gets it: crictl (client-go's SPDY or WebSocket dialer, as
// kubectl) forwards a local port into the pod, where an echo server runs; we push N MiB through
// it and read them back. The floor to compare with is the same echo reached directly from the
// pod's network namespace by `nsenter --net ... socat` (no runtime in between).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { freePort } from '../test/support/registry.js';
import { timeMs } from './lib.js';

export const CRICTL = process.env.CRICTL ?? '/work/shared/conformance/bin/crictl';
const MiB = 1024 * 1024;

/** Push `mib` MiB into `input`, read them back from `output`; MB/s of payload each way. */
async function echo(input: Writable, output: Readable, mib: number): Promise<number> {
  const volume = mib * MiB;
  let got = 0;
  const back = new Promise<void>((resolve, reject) => {
    output.on('data', (b: Buffer) => {
      got += b.length;
      if (got >= volume) resolve();
    });
    output.on('error', reject);
    output.on('end', () => (got >= volume ? resolve() : reject(new Error(`echo ended after ${got} of ${volume} bytes`))));
  });
  const ms = await timeMs(async () => {
    const chunk = randomBytes(MiB);
    for (let i = 0; i < mib; i++) if (!input.write(chunk)) await new Promise((r) => input.once('drain', r));
    await back;
  });
  return mib / (ms / 1000);
}

/** The floor: nsenter into the pod's netns (of `pid`) and socat to the echo port. */
export async function rawEcho(pid: number, port: number, mib: number): Promise<number> {
  const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, 'socat', '-t', '30', '-', `TCP4:127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    return await echo(child.stdin, child.stdout, mib);
  } finally {
    child.kill('SIGKILL');
  }
}

/** Through `crictl port-forward` over `transport` against the runtime on `socket`. */
export async function crictlEcho(socket: string, podId: string, port: number, transport: 'spdy' | 'websocket', mib: number): Promise<number> {
  const local = await freePort();
  const p: ChildProcess = spawn(CRICTL, ['--runtime-endpoint', `unix://${socket}`, 'port-forward', '--transport', transport, podId, `${local}:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  try {
    const deadline = Date.now() + 15_000;
    while (!out.includes(`Forwarding from 127.0.0.1:${local}`)) {
      if (p.exitCode !== null || Date.now() > deadline) throw new Error(`crictl port-forward (${transport}) did not start: ${out.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const sock = connect(local, '127.0.0.1');
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    try {
      return await echo(sock, sock, mib);
    } finally {
      sock.destroy();
    }
  } finally {
    p.kill('SIGINT');
  }
}
