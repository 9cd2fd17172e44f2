// PortForwardBackend into a pod's network namespace. Node cannot enter a namespace itself
// (setns() needs a thread of its own), so for each connection the small native helper
// nexcage-dial enters the netns, connects to localhost:<port> there (127.0.0.1, then ::1, as
// kubelet and containerd do) and passes the connected socket back over Node's IPC channel. From
// then on Node reads and writes the pod's TCP socket itself: no process and no pipe in the data
// path. hostNetwork pods (no netns path) are reached directly from Node. The pod socket reads into
// buffers of ours that come back once the client stream has written them (Node's `onread`):
// without it every 64 KiB read is a fresh buffer, and at bulk rates their allocation, page faults
// and the full GCs their external memory brings cost more CPU than the relay itself.
import { spawn } from 'node:child_process';
import { connect, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import { REUSABLE_AFTER_WRITE, type PortForwardBackend } from './backend.js';
import { findNativeHelper } from '../../lib/native-helpers.js';
import { isLeased, release } from './read-leases.js';

/** The sandbox store's side of port forwarding. */
export interface SandboxNetworkLocator {
  /**
   * The pod's network namespace path, or null for a hostNetwork pod. NotFoundError for an unknown
   * pod, FailedPreconditionError when it has no network (yet).
   */
  netnsPath(sandboxId: string): Promise<string | null>;
}

export interface NetnsPortForwardOptions {
  /** The nexcage-dial binary; found next to the code by default. */
  dialHelper?: string;
  log: Logger;
}

/**
 * What the pod socket may hold before the client stream is paused: several frames' worth, above
 * the socket's own 16 KiB mark (which one frame alone exceeds).
 */
const SOCKET_BUFFER_LIMIT = 256 * 1024;
/** One read from the pod socket at most (Node's own reads are 64 KiB). */
const READ_BUFFER_BYTES = 64 * 1024;
/** Read buffers kept for reuse per connection; more in flight are left to the GC when they return. */
const FREE_READ_BUFFERS = 4;

/**
 * The pod socket's reads (Node's `onread`): each into a buffer of its own, handed to `deliver`,
 * which returns false to stop reading. With a client stream whose write callback means "done with
 * the chunk" (REUSABLE_AFTER_WRITE) a buffer comes back for the next reads once written.
 */
export class PodReads {
  private readonly free: Buffer[] = [];
  /** Set by the relay; the socket stays paused until then. */
  deliver: (chunk: Buffer, buffer: Buffer) => boolean = () => false;

  constructor(readonly reuse: boolean) {}

  readonly onread = {
    buffer: (): Buffer => this.free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
    callback: (n: number, buffer: Uint8Array): boolean => this.deliver((buffer as Buffer).subarray(0, n), buffer as Buffer),
  };

  release(buffer: Buffer): void {
    if (this.reuse && this.free.length < FREE_READ_BUFFERS) this.free.push(buffer);
  }
}

export class NetnsPortForwarder implements PortForwardBackend {
  private readonly dialHelper: string;

  constructor(
    private readonly sandboxes: SandboxNetworkLocator,
    options: NetnsPortForwardOptions,
  ) {
    this.dialHelper = options.dialHelper ?? findNativeHelper('nexcage-dial');
  }

  async checkPortForward(sandboxId: string): Promise<void> {
    await this.sandboxes.netnsPath(sandboxId);
  }

  async portForward(sandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    const netns = await this.sandboxes.netnsPath(sandboxId);
    // The client may have gone while the pod was looked up; its abort and close have fired already
    // and would never reach the relay, which would then outlive it: start nothing.
    if (signal.aborted || stream.destroyed) return;
    const reads = new PodReads((stream as { [REUSABLE_AFTER_WRITE]?: boolean })[REUSABLE_AFTER_WRITE] === true);
    const sock = netns === null ? await dialHost(port, signal, stream, reads) : await dialInNetns(this.dialHelper, netns, port, signal, stream, reads);
    if (sock) await relay(sock, stream, signal, reads);
  }
}

/**
 * Runs nexcage-dial and takes the socket it hands over; null when the client went away meanwhile.
 * Rejects with the helper's own reason (e.g. "IPv4: connect 127.0.0.1:80: Connection refused ...").
 */
function dialInNetns(helper: string, netns: string, port: number, signal: AbortSignal, stream: Duplex, reads: PodReads): Promise<Socket | null> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(helper, [netns, String(port)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    let stderr = '';
    let settled = false;
    const gone = (): void => {
      child.kill('SIGKILL');
      finish(null);
    };
    const finish = (sock: Socket | null, err?: Error): void => {
      if (settled) {
        sock?.destroy();
        return;
      }
      settled = true;
      signal.removeEventListener('abort', gone);
      stream.off('close', gone);
      if (err) reject(err);
      else resolvePromise(sock);
    };
    signal.addEventListener('abort', gone, { once: true });
    stream.once('close', gone);
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString();
    });
    child.on('message', (_msg, handle) => {
      if (!handle) return;
      // A raw TCP handle ('net.Native'): wrapped here so that half-close stays exact (the pod's FIN
      // must not end our direction towards it).
      const sock = new Socket({ handle: handle as never, readable: true, writable: true, allowHalfOpen: true, onread: reads.onread });
      // Reading starts with the socket; nothing may be read before the relay takes it.
      sock.pause();
      if (signal.aborted || stream.destroyed) sock.destroy();
      finish(signal.aborted || stream.destroyed ? null : sock);
    });
    child.once('error', (err) => finish(null, err));
    child.once('close', (code, sig) => {
      if (sig === 'SIGKILL') return finish(null);
      finish(null, new Error(stderr.trim() || `nexcage-dial exited with ${code ?? sig} without handing over a connection`));
    });
  });
}

function dialHost(port: number, signal: AbortSignal, stream: Duplex, reads: PodReads): Promise<Socket | null> {
  return new Promise((resolvePromise, reject) => {
    const sock = connect({ host: '127.0.0.1', port, allowHalfOpen: true, onread: reads.onread });
    sock.pause();
    const gone = (): void => {
      sock.destroy();
      done(null);
    };
    const done = (s: Socket | null, err?: Error): void => {
      signal.removeEventListener('abort', gone);
      stream.off('close', gone);
      sock.off('error', failed);
      if (err) reject(err);
      else resolvePromise(s);
    };
    const failed = (err: Error): void => done(null, new Error(`dial tcp4 127.0.0.1:${port}: ${err.message}`));
    signal.addEventListener('abort', gone, { once: true });
    stream.once('close', gone);
    sock.once('connect', () => done(sock));
    sock.once('error', failed);
  });
}

/**
 * Copies both ways until both directions are done, with half-close each way: the client's end
 * shuts down our write side to the pod, the pod's FIN ends the client stream. A client that
 * goes (abort, stream closed) drops the connection.
 */
function relay(sock: Socket, stream: Duplex, signal: AbortSignal, reads: PodReads): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let failure: Error | undefined;
    const drop = (): void => {
      sock.destroy();
    };
    signal.addEventListener('abort', drop, { once: true });
    stream.once('close', drop);
    stream.on('error', drop);
    sock.on('error', (err) => {
      if (!signal.aborted && !stream.destroyed) failure = err;
    });
    sock.once('close', () => {
      signal.removeEventListener('abort', drop);
      stream.off('close', drop);
      stream.off('error', drop);
      if (failure) reject(failure);
      else resolvePromise();
    });
    pump(stream, sock);
    const resume = (): void => {
      sock.resume();
    };
    reads.deliver = (chunk, buffer) => {
      if (stream.destroyed || stream.writableEnded) return false;
      if (stream.write(chunk, () => reads.release(buffer))) return true;
      stream.once('drain', resume);
      return false;
    };
    sock.once('end', () => {
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    });
    sock.resume();
  });
}

/**
 * stream -> sock as pipe() does, but the socket is corked until the end of the tick: the frames of
 * one read on the client's connection (several per read) reach the pod in one write. A chunk of a
 * leased client read (read-leases.ts) is released once the socket has written it.
 */
export function pump(from: Duplex, to: Socket): void {
  const resume = (): void => {
    from.resume();
  };
  from.on('data', (b: Buffer) => {
    if (to.destroyed) return;
    if (to.writableCorked === 0) {
      to.cork();
      process.nextTick(() => to.uncork());
    }
    if (isLeased(b)) to.write(b, () => release(b));
    else to.write(b);
    // Past the socket's own mark every write() said false: 'drain' is due once it empties.
    if (to.writableLength >= SOCKET_BUFFER_LIMIT) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.once('end', () => {
    if (!to.destroyed) to.end();
  });
}
