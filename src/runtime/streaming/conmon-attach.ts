// AttachBackend on conmon: conmon holds the container's stdio and serves it on its attach socket
// (SOCK_SEQPACKET, bridged by native/nexcage-attach because Node cannot open one); terminal
// resizes go through conmon's ctl FIFO. Detaching (client gone) leaves the container running.
// When the client's stdin ends, the session ends too (the container keeps running, its stdin
// open), as containerd does; only for a stdin_once container without a terminal is the
// container's stdin closed instead, and the session lasts until the container exits.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { InternalError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { AttachBackend, StreamIO } from './backend.js';
import { findNativeHelper } from '../../lib/native-helpers.js';

/** What attach needs of a container: its monitor's attach socket and terminal resize. */
export interface AttachTarget {
  attachSocket: string;
  /** Whether the container was created with stdin (CRI stdin: true): only then does its monitor take input. */
  stdin: boolean;
  /** CRI stdin_once: the container's stdin closes when the first attach session ends its input. */
  stdinOnce: boolean;
  /** Resize the container's terminal (conmon: `1 <height> <width>` on the ctl FIFO). */
  resize(width: number, height: number): Promise<void>;
}

/** The container store's side of attach. */
export interface AttachLocator {
  /** NotFoundError for an unknown container, FailedPreconditionError if it is not running. */
  locateAttach(containerId: string): Promise<AttachTarget>;
}

export interface ConmonAttachOptions {
  /** The nexcage-attach helper; defaults to dist/native/nexcage-attach. */
  attachHelper?: string;
  log: Logger;
}

/** nexcage-attach's exit code when it cannot reach the socket. */
const CONNECT_FAILED = 125;

export class ConmonAttachBackend implements AttachBackend {
  private readonly helper: string;

  constructor(
    private readonly containers: AttachLocator,
    private readonly options: ConmonAttachOptions,
  ) {
    this.helper = options.attachHelper ?? findNativeHelper('nexcage-attach');
  }

  async checkAttach(containerId: string, stdin: boolean): Promise<void> {
    const target = await this.containers.locateAttach(containerId);
    // As containerd: `kubectl attach -i` to a container without stdin still shows its output
    // (the kubelet passes -i on as is); the input is dropped in attach(), said in the log here.
    if (stdin && !target.stdin) this.options.log.info({ containerId }, 'attach: stdin requested but the container was created without stdin; input will be dropped');
  }

  async attach(containerId: string, tty: boolean, io: StreamIO, signal: AbortSignal): Promise<void> {
    const target = await this.containers.locateAttach(containerId);
    if (!existsSync(this.helper)) throw new InternalError(`attach needs ${this.helper} (built by make build)`);
    const log = this.options.log.child({ containerId });
    const resize = (w: number, h: number): void => {
      target.resize(w, h).catch((err: unknown) => log.debug({ err }, 'attach: resize failed'));
    };
    let unsubscribe = (): void => undefined;
    if (tty && io.resize) {
      if (io.resize.latest) resize(io.resize.latest.width, io.resize.latest.height);
      unsubscribe = io.resize.subscribe((s) => resize(s.width, s.height));
    }
    const relayStdin = io.stdin !== null && target.stdin;
    const detachOnEof = relayStdin && !(target.stdinOnce && !tty);
    const child = spawn(this.helper, [...(detachOnEof ? ['-d'] : []), target.attachSocket], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    let diagnostics = '';
    (child.stderr as Readable).on('data', (b: Buffer) => {
      if (diagnostics.length < 4096) diagnostics += b.toString();
    });
    const childStdin = child.stdin as Writable;
    childStdin.on('error', () => undefined);
    // A container created without stdin takes no input: drain it, never reach its monitor.
    if (io.stdin && relayStdin) io.stdin.pipe(childStdin);
    else io.stdin?.resume();
    // Without stdin the socket's write side stays open: shutting it would close the container's stdin.
    const outputs: [Readable, Writable | null][] = [
      [child.stdout as Readable, io.stdout],
      [child.stdio[3] as Readable, tty ? null : io.stderr],
    ];
    for (const [from, to] of outputs) {
      if (to) from.pipe(to, { end: false });
      else from.resume();
    }
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const code = await new Promise<number | null>((res, rej) => {
        child.once('error', rej);
        child.once('close', (c) => res(c));
      });
      if (code === CONNECT_FAILED) throw new InternalError(`attach to container "${containerId}": ${diagnostics.trim()}`);
    } finally {
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
      if (io.stdin) {
        if (target.stdin) io.stdin.unpipe(childStdin);
        io.stdin.resume();
      }
    }
  }
}
