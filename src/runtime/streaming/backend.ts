// The seam between the streaming protocols (SPDY, WebSocket) and whatever runs the process or
// reaches the pod: the container engineer plugs real containers in here. The protocol side owns
// the client streams: a backend writes into stdout/stderr but never ends them, reads stdin until
// it ends, and must stop (kill what it started) when `signal` aborts because the client went away.
import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

/** Terminal size changes sent by the client (tty sessions only). */
export interface ResizeSource {
  /** The latest size so far: clients send one before the process starts. */
  readonly latest: TerminalSize | undefined;
  /** Call `listener` on every later change; returns the unsubscribe function. */
  subscribe(listener: (size: TerminalSize) => void): () => void;
}

export interface StreamIO {
  stdin: Readable | null;
  stdout: Writable | null;
  /** Always null with a TTY: the terminal merges stderr into stdout. */
  stderr: Writable | null;
  resize: ResizeSource | null;
}

export interface ExecBackend {
  /** Before a URL is handed out: NotFoundError for an unknown container, FailedPreconditionError if it is not running. */
  checkExec(containerId: string): Promise<void>;
  /** Run `cmd` in the container; resolves with its exit code (128+n when killed by signal n). */
  exec(containerId: string, cmd: readonly string[], tty: boolean, io: StreamIO, signal: AbortSignal): Promise<number>;
}

export interface AttachBackend {
  /** As checkExec; also FailedPreconditionError when `stdin` is asked of a container created without stdin. */
  checkAttach(containerId: string, stdin: boolean): Promise<void>;
  /** Connect to the container's main process until it exits (resolves) or `signal` aborts. */
  attach(containerId: string, tty: boolean, io: StreamIO, signal: AbortSignal): Promise<void>;
}

export interface PortForwardBackend {
  /** Before a URL is handed out: NotFoundError for an unknown pod, FailedPreconditionError if it has no network yet. */
  checkPortForward(sandboxId: string): Promise<void>;
  /**
   * Connect `stream` to `port` inside the pod's network namespace, both ways, with half-close.
   * Resolves when both directions are done; rejects with an Error whose message goes on the
   * client's error stream (e.g. nothing listens on the port).
   */
  portForward(sandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void>;
}

/**
 * Marks a client stream whose write callback comes only once nothing refers to the chunk any more
 * (it went to the socket, or was copied): a backend may then reuse the chunk's buffer.
 */
export const REUSABLE_AFTER_WRITE = Symbol('nexcage.streaming.reusableAfterWrite');

/** What the streaming server can serve; a missing backend means that call is not available yet. */
export interface StreamingBackends {
  exec?: ExecBackend;
  attach?: AttachBackend;
  portForward?: PortForwardBackend;
}
