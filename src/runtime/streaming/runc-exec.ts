// ExecBackend on the OCI runtime's `exec` (runc CLI contract): the process joins the running
// container and gets the container's env, cwd and user from its config. Without a TTY its stdio
// are pipes and a client that goes away gets it killed (its pid from --pid-file). With a TTY the
// runtime creates the terminal inside the container (its own /dev/pts) and hands the master to
// nexcage-pty (native/nexcage-pty.c) over a console socket; the helper relays it, applies resizes
// and reports the exit code, and kills the process when asked to stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { InternalError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { runtimeLogErrors } from '../engine/oci-runtime.js';
import type { ExecBackend, StreamIO } from './backend.js';
import { findNativeHelper } from './native-helpers.js';

/** Where a container runs: the OCI runtime binary and its global flags (--root, --systemd-cgroup...). */
export interface ExecTarget {
  runtimePath: string;
  /** Global flags before the `exec` subcommand; OciRuntime.globalArgs() gives them. */
  runtimeArgs: string[];
}

/** The container store's side of exec: which runtime runs a container, and whether it can exec now. */
export interface ContainerLocator {
  /** NotFoundError for an unknown container, FailedPreconditionError if it is not running. */
  locate(containerId: string): Promise<ExecTarget>;
}

export interface RuncExecOptions {
  /** Scratch dir for --pid-file files and console sockets (a unix socket path has at most 107 bytes). */
  workDir: string;
  /** The nexcage-pty helper; defaults to dist/native/nexcage-pty beside the build. */
  ptyHelper?: string;
  log: Logger;
}

const KILL_GRACE_MS = 2000;
const MAX_SOCKET_PATH = 107;
const MAX_DIAGNOSTICS = 4096;

interface Running {
  child: ChildProcess;
  /** Resolves with the process's exit code; rejects when it could not be run. */
  done: Promise<number>;
  /** The client went away: end the process. */
  stop(): void;
}

export class RuncExecBackend implements ExecBackend {
  private readonly ptyHelper: string;

  constructor(
    private readonly containers: ContainerLocator,
    private readonly options: RuncExecOptions,
  ) {
    this.ptyHelper = options.ptyHelper ?? findNativeHelper('nexcage-pty');
  }

  async checkExec(containerId: string): Promise<void> {
    await this.containers.locate(containerId);
  }

  async exec(containerId: string, cmd: readonly string[], tty: boolean, io: StreamIO, signal: AbortSignal): Promise<number> {
    const target = await this.containers.locate(containerId);
    await mkdir(this.options.workDir, { recursive: true, mode: 0o700 });
    const base = join(this.options.workDir, randomBytes(8).toString('hex'));
    const pidFile = `${base}.pid`;
    const socket = `${base}.sock`;
    const log = this.options.log.child({ containerId });
    const running = tty ? this.startTerminal(target, containerId, cmd, io, pidFile, socket) : startPipes(target, containerId, cmd, io, pidFile);
    const childStdin = running.child.stdin;
    if (childStdin) {
      childStdin.on('error', () => undefined); // EPIPE once the process exits without reading
      if (io.stdin) io.stdin.pipe(childStdin);
      else childStdin.end();
    }
    const onAbort = (): void => {
      log.debug('client went away, killing the exec process');
      running.stop();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await running.done;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (io.stdin) {
        if (childStdin) io.stdin.unpipe(childStdin);
        io.stdin.resume(); // drain whatever the client still sends
      }
      await Promise.all([rm(pidFile, { force: true }), rm(socket, { force: true })]);
    }
  }

  private startTerminal(target: ExecTarget, containerId: string, cmd: readonly string[], io: StreamIO, pidFile: string, socket: string): Running {
    if (!existsSync(this.ptyHelper)) throw new InternalError(`exec with a tty needs ${this.ptyHelper} (built by make build)`);
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new InternalError(`exec with a tty in container "${containerId}": console socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter stateDir`);
    }
    const size = io.resize?.latest;
    // JSON logs on stderr: its error lines become the message the client sees.
    const runtime = [target.runtimePath, ...target.runtimeArgs, '--log-format=json', 'exec', '--detach', '--tty', '--console-socket', socket, '--pid-file', pidFile, containerId, ...cmd];
    const args = [...(io.stdin ? ['-i'] : []), '-s', socket, '-p', pidFile, String(size?.width ?? 0), String(size?.height ?? 0), ...runtime];
    const child = spawn(this.ptyHelper, args, { stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
    const ctl = child.stdio[3] as Writable;
    ctl.on('error', () => undefined);
    const unsubscribe = io.resize?.subscribe((s) => ctl.write(`${s.width} ${s.height}\n`)) ?? ((): void => undefined);
    copyOut(child.stdout as Readable, io.stdout);
    const diagnostics = collect(child.stderr as Readable);
    const status = collect(child.stdio[4] as Readable);
    const done = closed(child).then(({ code, sig }) => {
      unsubscribe();
      const m = /^(exit|runtime) (\d+)\n/.exec(status());
      if (m?.[1] === 'exit') return Number(m[2]);
      const why = runtimeLogErrors(diagnostics()).join('; ') || (m ? `the runtime exited with ${m[2]}` : `nexcage-pty ended (${sig ?? `exit ${code}`}) without a status`);
      throw new InternalError(`exec in container "${containerId}" failed: ${why}`);
    });
    return {
      child,
      done,
      stop: () => {
        // The helper kills the process (once the runtime has named it) and reports; a runtime
        // that hangs gets the helper killed, which hangs up the terminal.
        child.kill('SIGTERM');
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, KILL_GRACE_MS).unref();
      },
    };
  }
}

function startPipes(target: ExecTarget, containerId: string, cmd: readonly string[], io: StreamIO, pidFile: string): Running {
  const child = spawn(target.runtimePath, [...target.runtimeArgs, 'exec', '--pid-file', pidFile, containerId, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
  copyOut(child.stdout as Readable, io.stdout);
  copyOut(child.stderr as Readable, io.stderr);
  const done = closed(child).then(({ code, sig }) => code ?? 128 + signalNumber(sig));
  return { child, done, stop: () => void killExecProcess(pidFile, child) };
}

function closed(child: ChildProcess): Promise<{ code: number | null; sig: NodeJS.Signals | null }> {
  return new Promise((res, rej) => {
    child.once('error', rej);
    child.once('close', (code, sig) => res({ code, sig }));
  });
}

function copyOut(from: Readable, to: Writable | null): void {
  if (!to) {
    from.resume();
    return;
  }
  from.pipe(to, { end: false });
  // A client gone mid-stream: keep reading, so the process (or helper) never blocks on a full pipe.
  const drop = (): void => {
    from.unpipe(to);
    from.resume();
  };
  to.once('error', drop);
  to.once('close', drop);
}

/** The first few KiB of a stream, as text. */
function collect(from: Readable): () => string {
  let text = '';
  from.on('data', (b: Buffer) => {
    if (text.length < MAX_DIAGNOSTICS) text += b.toString();
  });
  return () => text;
}

async function killExecProcess(pidFile: string, child: ChildProcess): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // If runc had not started the process yet (no pid file), or hangs, end runc itself.
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, pid > 0 ? KILL_GRACE_MS : 0).unref();
}

function signalNumber(sig: NodeJS.Signals | null): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
  return sig ? (numbers[sig] ?? 0) : 0;
}
