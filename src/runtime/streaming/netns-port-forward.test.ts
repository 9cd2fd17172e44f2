// Port forwarding into a real network namespace (pinned in a temp dir, an echo service inside run
// by socat) through the built nexcage-dial helper, and onto the host for hostNetwork pods: data
// both ways with half-close, ::1 when nothing listens on 127.0.0.1, the error a client sees when
// nothing listens or the netns is gone, and an abort that ends the relay. Nothing is left running.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, duplexPair, Writable, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { NetnsPins } from '../network/netns.js';
import { REUSABLE_AFTER_WRITE } from './backend.js';
import { NetnsPortForwarder, pump } from './netns-port-forward.js';
import { leaseRead, release, retain } from './read-leases.js';

/** A released read: its buffer detached, the memory gone. */
const freed = (b: Uint8Array): boolean => (b.buffer as ArrayBuffer).detached;

const dir = mkdtempSync(join(tmpdir(), 'nexcage-pf-'));
const pins = new NetnsPins(join(dir, 'netns'));
let netns = '';
let echo: ChildProcess;

/** Waits until `cond` holds (polling), failing after a deadline. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function listening(port: number): boolean {
  try {
    return execFileSync('nsenter', [`--net=${netns}`, 'ss', '-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

beforeAll(async () => {
  netns = await pins.create('pod1');
  execFileSync('nsenter', [`--net=${netns}`, 'ip', 'link', 'set', 'lo', 'up']);
  // An upper-casing echo service on 127.0.0.1:8080 inside the pod's namespace only.
  echo = spawn('nsenter', [`--net=${netns}`, 'socat', 'TCP4-LISTEN:8080,bind=127.0.0.1,reuseaddr,fork', 'SYSTEM:stdbuf -o0 tr a-z A-Z'], { stdio: 'ignore' });
  await until(() => listening(8080), 'the echo service in the netns');
});

afterAll(async () => {
  echo.kill('SIGKILL');
  if (echo.exitCode === null && echo.signalCode === null) await once(echo, 'exit');
  await pins.remove(netns);
  await pins.close();
  rmSync(dir, { recursive: true, force: true });
});

const forwarder = new NetnsPortForwarder(
  {
    netnsPath: async (id) => {
      if (id === 'pod1') return netns;
      if (id === 'host-pod') return null;
      throw new NotFoundError(`pod sandbox "${id}" not found`);
    },
  },
  { log: silentLogger() },
);

/** Sends `input` on the client end, half-closes, and collects what comes back until the end. */
async function roundTrip(client: Duplex, input: string): Promise<string> {
  let out = '';
  client.on('data', (b: Buffer) => (out += b.toString()));
  client.end(input);
  await once(client, 'end');
  return out;
}

describe('NetnsPortForwarder', () => {
  it('relays a connection to a port inside the pod netns both ways, with half-close', async () => {
    const [client, server] = duplexPair();
    const done = forwarder.portForward('pod1', 8080, server, new AbortController().signal);
    expect(await roundTrip(client, 'hello pod\n')).toBe('HELLO POD\n');
    await expect(done).resolves.toBeUndefined();
  });

  it('the port is not reachable from the host: the namespace is the pod\'s, not the node\'s', async () => {
    const [client, server] = duplexPair();
    client.resume();
    await expect(forwarder.portForward('host-pod', 8080, server, new AbortController().signal)).rejects.toThrow(/^dial tcp4 127.0.0.1:8080: connect ECONNREFUSED/);
  });

  it('nothing listening on the pod port: rejects with the reason for each address tried (what the client sees on its error stream)', async () => {
    const [client, server] = duplexPair();
    client.resume();
    const err = (await forwarder.portForward('pod1', 8081, server, new AbortController().signal).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('IPv4: connect 127.0.0.1:8081: Connection refused IPv6: connect [::1]:8081: Connection refused');
  });

  it('a service listening on ::1 only is reached (after 127.0.0.1 refused), as kubelet and containerd do', async () => {
    const v6 = spawn('nsenter', [`--net=${netns}`, 'socat', 'TCP6-LISTEN:8082,bind=[::1],reuseaddr', 'SYSTEM:stdbuf -o0 tr a-z A-Z'], { stdio: 'ignore' });
    try {
      await until(() => listening(8082), 'the IPv6 echo service in the netns');
      const [client, server] = duplexPair();
      const done = forwarder.portForward('pod1', 8082, server, new AbortController().signal);
      expect(await roundTrip(client, 'over v6')).toBe('OVER V6');
      await done;
    } finally {
      v6.kill('SIGKILL');
      if (v6.exitCode === null && v6.signalCode === null) await once(v6, 'exit');
    }
  });

  it('16 MiB pushed before any is read back arrive intact: the relay holds back the client while the pod is full', async () => {
    const size = 16 * 1024 * 1024;
    const sent = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4) sent.writeUInt32LE(i, i);
    const cat = spawn('nsenter', [`--net=${netns}`, 'socat', 'TCP4-LISTEN:8084,bind=127.0.0.1,reuseaddr', 'EXEC:cat'], { stdio: 'ignore' });
    try {
      await until(() => listening(8084), 'the cat service in the netns');
      const [client, server] = duplexPair();
      const done = forwarder.portForward('pod1', 8084, server, new AbortController().signal);
      client.end(sent); // nothing read back yet: cat stops reading once its output is full
      await until(() => server.readableLength === 0 && server.isPaused(), 'the relay to hold back the client');
      const got: Buffer[] = [];
      client.on('data', (b: Buffer) => got.push(b));
      await once(client, 'end');
      expect(Buffer.concat(got).equals(sent)).toBe(true);
      await done;
    } finally {
      cat.kill('SIGKILL');
      if (cat.exitCode === null && cat.signalCode === null) await once(cat, 'exit');
    }
  });

  it('a client stream that releases its chunks on the write callback gets the pod\'s read buffers reused, none before its callback', async () => {
    const size = 8 * 1024 * 1024;
    const sent = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4) sent.writeUInt32LE(i, i);
    const cat = spawn('nsenter', [`--net=${netns}`, 'socat', 'TCP4-LISTEN:8086,bind=127.0.0.1,reuseaddr', 'EXEC:cat'], { stdio: 'ignore' });
    try {
      await until(() => listening(8086), 'the cat service in the netns');
      const got: Buffer[] = [];
      const buffers = new Set<ArrayBufferLike>();
      let overwritten = 0;
      // Holds each chunk by reference until its (late) callback, as a socket write does.
      class SlowClient extends Duplex {
        readonly [REUSABLE_AFTER_WRITE] = true;
        override _read(): void {}
        override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
          const copy = Buffer.from(chunk);
          buffers.add(chunk.buffer);
          setTimeout(() => {
            if (!chunk.equals(copy)) overwritten++;
            got.push(copy);
            cb();
          }, 1);
        }
      }
      const stream = new SlowClient({ allowHalfOpen: true, highWaterMark: 128 * 1024 });
      const finished = once(stream, 'finish');
      const done = forwarder.portForward('pod1', 8086, stream, new AbortController().signal);
      stream.push(sent);
      stream.push(null);
      await done;
      await finished;
      expect(overwritten).toBe(0);
      expect(Buffer.concat(got).equals(sent)).toBe(true);
      expect(got.length).toBeGreaterThan(buffers.size * 4);
    } finally {
      cat.kill('SIGKILL');
      if (cat.exitCode === null && cat.signalCode === null) await once(cat, 'exit');
    }
  });

  it('a pod service that resets the connection: rejects with the reset (the client sees it on its error stream)', async () => {
    const rst = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', `require('net').createServer((s) => s.once('data', () => s.resetAndDestroy())).listen(8085, '127.0.0.1')`], { stdio: 'ignore' });
    try {
      await until(() => listening(8085), 'the resetting service in the netns');
      const [client, server] = duplexPair();
      client.resume();
      const done = forwarder.portForward('pod1', 8085, server, new AbortController().signal);
      client.write('hello');
      await expect(done).rejects.toThrow(/ECONNRESET/);
    } finally {
      rst.kill('SIGKILL');
      if (rst.exitCode === null && rst.signalCode === null) await once(rst, 'exit');
    }
  });

  it('a network namespace that is gone: rejects naming it', async () => {
    const gone = new NetnsPortForwarder({ netnsPath: async () => join(dir, 'netns', 'no-such-pod') }, { log: silentLogger() });
    const [client, server] = duplexPair();
    client.resume();
    await expect(gone.portForward('p', 8080, server, new AbortController().signal)).rejects.toThrow(
      `open network namespace ${join(dir, 'netns', 'no-such-pod')}: No such file or directory`,
    );
  });

  it('an abort (client gone) ends the relay promptly, also one that came while the pod was looked up', async () => {
    const [client, server] = duplexPair();
    let got = '';
    client.on('data', (b: Buffer) => (got += b.toString()));
    const ac = new AbortController();
    const done = forwarder.portForward('pod1', 8080, server, ac.signal);
    client.write('partial\n');
    await until(() => got === 'PARTIAL\n', 'the relay to run');
    ac.abort();
    await expect(done).resolves.toBeUndefined();
    // Aborted before the netns lookup finished: nothing is started, nothing is left running.
    const [c1, s1] = duplexPair();
    c1.resume();
    const early = new AbortController();
    const pending = forwarder.portForward('pod1', 8080, s1, early.signal);
    early.abort();
    await expect(pending).resolves.toBeUndefined();
    const [c3, s3] = duplexPair();
    c3.resume();
    const closedEarly = forwarder.portForward('host-pod', 8080, s3, new AbortController().signal);
    s3.destroy();
    await expect(closedEarly).resolves.toBeUndefined();
    const [c2, s2] = duplexPair();
    const again = forwarder.portForward('pod1', 8080, s2, new AbortController().signal);
    expect(await roundTrip(c2, 'again')).toBe('AGAIN');
    await again;
  });

  it('a client stream that closes kills the relay', async () => {
    const [client, server] = duplexPair();
    client.resume();
    const done = forwarder.portForward('pod1', 8080, server, new AbortController().signal);
    server.destroy();
    await expect(done).resolves.toBeUndefined();
  });

  it('hostNetwork pods are reached on the node directly', async () => {
    const host: Server = createServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (b: Buffer) => (got += b.toString()));
      s.on('end', () => s.end(`host saw ${got}`));
    });
    host.listen(0, '127.0.0.1');
    await once(host, 'listening');
    try {
      const port = (host.address() as { port: number }).port;
      const [client, server] = duplexPair();
      const done = forwarder.portForward('host-pod', port, server, new AbortController().signal);
      expect(await roundTrip(client, 'x')).toBe('host saw x');
      await done;
      // An abort ends a host relay too.
      const [c2, s2] = duplexPair();
      c2.resume();
      const ac = new AbortController();
      const second = forwarder.portForward('host-pod', port, s2, ac.signal);
      await new Promise((r) => setTimeout(r, 20));
      ac.abort();
      await expect(second).resolves.toBeUndefined();
    } finally {
      host.close();
    }
  });

  it('checks the pod before a URL is handed out: an unknown pod is NOT_FOUND', async () => {
    await expect(forwarder.checkPortForward('pod1')).resolves.toBeUndefined();
    await expect(forwarder.checkPortForward('ghost')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('pump (client stream -> pod socket)', () => {
  it('releases each piece of a leased read once the socket has written it, never before; the bytes exact', async () => {
    const done: Array<() => void> = [];
    const written: Buffer[] = [];
    // A socket whose writes complete when the test says so; it keeps the chunks as libuv would.
    const to = new Writable({
      highWaterMark: 1 << 20,
      writev(chunks, cb) {
        written.push(...chunks.map((c) => c.chunk as Buffer));
        done.push(() => cb());
      },
    });
    const from = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
    pump(from, to as unknown as Parameters<typeof pump>[1]);
    const reads = [0, 1, 2].map((i) => {
      const b = Buffer.allocUnsafeSlow(65536).fill(i + 1);
      expect(leaseRead(b)).toBe(true);
      return b;
    });
    // Two reads cut in pieces (as DATA payloads), one whole: every piece carries a reference.
    const pieces = [reads[0]!.subarray(0, 1000), reads[0]!.subarray(1000), reads[1]!.subarray(0, 30000), reads[1]!.subarray(30000), reads[2]!];
    for (const p of pieces.slice(0, 4)) retain(p);
    // The reader's own reference to a read it has cut up goes once it is used up.
    for (const r of reads.slice(0, 2)) release(r);
    for (const p of pieces) (from as Readable).push(p);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(written).equals(Buffer.concat(reads))).toBe(true);
    expect(reads.some((r) => freed(r))).toBe(false);
    for (const d of done.splice(0)) d();
    await new Promise((r) => setImmediate(r));
    expect(reads.every((r) => freed(r))).toBe(true);
  });
});
