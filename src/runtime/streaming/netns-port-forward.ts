// PortForwardBackend into a pod's network namespace. Node cannot enter a namespace itself
// (setns() needs a thread of its own), so each connection runs Debian's `nsenter --net=<path>`
// + `socat - TCP4:127.0.0.1:<port>` and relays the stream over the child's stdin/stdout: no
// native code to build, both tools are already runtime dependencies, and socat gives exact TCP
// half-close (stdin EOF -> shutdown(SHUT_WR), then it waits for the pod side to finish).
// hostNetwork pods (no netns path) are reached directly from Node.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import type { PortForwardBackend } from './backend.js';

/** The sandbox store's side of port forwarding. */
export interface SandboxNetworkLocator {
  /**
   * The pod's network namespace path, or null for a hostNetwork pod. NotFoundError for an unknown
   * pod, FailedPreconditionError when it has no network (yet).
   */
  netnsPath(sandboxId: string): Promise<string | null>;
}

export interface NetnsPortForwardOptions {
  nsenterPath?: string;
  socatPath?: string;
  log: Logger;
}

/** How long socat waits for the other direction after one side closed: the life of the stream. */
const HALF_CLOSE_WAIT_S = 86400;

export class NetnsPortForwarder implements PortForwardBackend {
  constructor(
    private readonly sandboxes: SandboxNetworkLocator,
    private readonly options: NetnsPortForwardOptions,
  ) {}

  async checkPortForward(sandboxId: string): Promise<void> {
    await this.sandboxes.netnsPath(sandboxId);
  }

  async portForward(sandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    const netns = await this.sandboxes.netnsPath(sandboxId);
    // The client may have gone while the pod was looked up; its abort and close have fired already
    // and would never reach the relay, which would then outlive it: start nothing.
    if (signal.aborted || stream.destroyed) return;
    if (netns === null) return forwardOnHost(port, stream, signal);
    const socatArgs = ['-t', String(HALF_CLOSE_WAIT_S), '-', `TCP4:127.0.0.1:${port}`];
    const child = spawn(this.options.nsenterPath ?? 'nsenter', [`--net=${netns}`, this.options.socatPath ?? 'socat', ...socatArgs], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString();
    });
    child.stdin.on('error', () => undefined);
    stream.pipe(child.stdin);
    child.stdout.pipe(stream as Writable); // ends the stream's write side when the pod side closes
    stream.on('error', () => child.kill('SIGKILL'));
    stream.on('close', () => {
      // The client reset or dropped the stream: nothing more can be delivered.
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const { code, sig } = await new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((res, rej) => {
        child.once('error', rej);
        child.once('close', (c, s) => res({ code: c, sig: s }));
      });
      if (code !== 0 && !signal.aborted && sig !== 'SIGKILL') {
        throw new Error(socatReason(stderr) ?? `socat exited with ${code ?? sig}`);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      stream.unpipe(child.stdin);
    }
  }
}

function forwardOnHost(port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const sock = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let connected = false;
    const onAbort = (): void => {
      sock.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      connected = true;
      stream.pipe(sock);
      sock.pipe(stream as Writable);
    });
    sock.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      if (!connected) reject(new Error(`dial tcp4 127.0.0.1:${port}: ${err.message}`));
      else resolvePromise();
    });
    sock.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      resolvePromise();
    });
    stream.on('close', () => sock.destroy());
  });
}

/** socat's own error line, e.g. "connect(5, AF=2 127.0.0.1:8080, 16): Connection refused". */
function socatReason(stderr: string): string | undefined {
  const line = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => / E /.test(l))
    .pop();
  return line ? line.replace(/^.*? E /, '') : undefined;
}
