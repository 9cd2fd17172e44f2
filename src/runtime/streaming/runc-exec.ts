// ExecBackend on the OCI runtime's `exec` (runc CLI contract): the process joins the running
// container and gets the container's env, cwd and user from its config. Without a TTY its stdio
// are pipes and a client that goes away gets it killed (its pid from --pid-file). With a TTY the
// runtime creates the terminal inside the container (its own /dev/pts), sized from the process
// spec's consoleSize before the command starts (a one-shot `stty size` must see the client's
// window), and hands the master to nexcage-pty (native/nexcage-pty.c) over a console socket; the
// helper relays it, applies resizes and reports the exit code, and kills the process when asked.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { FailedPreconditionError, InternalError } from '../../lib/errors.js';
import { readJsonIfExists, writeVolatileJson } from '../../lib/fsutil.js';
import type { Logger } from '../../lib/log.js';
import { runtimeLogErrors } from '../engine/oci-runtime.js';
import type { Process, Spec } from '../oci-spec/types.js';
import type { ExecBackend, ResizeSource, StreamIO, TerminalSize } from './backend.js';
import { findNativeHelper } from '../../lib/native-helpers.js';

/** Where a container runs: the OCI runtime binary and its global flags (--root, --systemd-cgroup...). */
export interface ExecTarget {
  runtimePath: string;
  /** Global flags before the `exec` subcommand; OciRuntime.globalArgs() gives them. */
  runtimeArgs: string[];
  /** The container's OCI bundle: its config.json process is the template of an exec with a TTY. */
  bundle: string;
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
/** How long an exec with a TTY waits for the client's window size (client-go sends it at once). */
const FIRST_SIZE_WAIT_MS = 500;
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
    const processFile = `${base}.json`;
    const log = this.options.log.child({ containerId });
    const running = tty ? await this.startTerminal(target, containerId, cmd, io, { pidFile, socket, processFile }) : startPipes(target, containerId, cmd, io, pidFile);
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
      await Promise.all([pidFile, socket, processFile].map((f) => rm(f, { force: true })));
    }
  }

  private async startTerminal(target: ExecTarget, containerId: string, cmd: readonly string[], io: StreamIO, files: { pidFile: string; socket: string; processFile: string }): Promise<Running> {
    const { pidFile, socket, processFile } = files;
    if (!existsSync(this.ptyHelper)) throw new InternalError(`exec with a tty needs ${this.ptyHelper} (built by make build)`);
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new InternalError(`exec with a tty in container "${containerId}": console socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter stateDir`);
    }
    const spec = await readJsonIfExists<Spec>(join(target.bundle, 'config.json'));
    if (!spec?.process) throw new FailedPreconditionError(`container "${containerId}": its OCI spec is missing`);
    const size = io.resize ? await firstSize(io.resize) : undefined;
    const proc: Process = { ...spec.process, args: [...cmd], terminal: true };
    if (size && size.width > 0 && size.height > 0) proc.consoleSize = { width: size.width, height: size.height };
    else delete proc.consoleSize;
    await writeVolatileJson(processFile, proc, 0o600);
    // JSON logs on stderr: its error lines become the message the client sees.
    const runtime = [target.runtimePath, ...target.runtimeArgs, '--log-format=json', 'exec', '--process', processFile, '--detach', '--console-socket', socket, '--pid-file', pidFile, containerId];
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

/** The client's window size: the one already sent, or the first to arrive within FIRST_SIZE_WAIT_MS. */
function firstSize(resize: ResizeSource): Promise<TerminalSize | undefined> {
  if (resize.latest) return Promise.resolve(resize.latest);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve(resize.latest);
    }, FIRST_SIZE_WAIT_MS);
    const unsubscribe = resize.subscribe((s) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(s);
    });
  });
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

/**
 * Kill the exec'd process (its pid from runc's --pid-file, written just after it started). Until
 * the pid file is there, wait for it: killing runc then would orphan the process, not end it.
 */
async function killExecProcess(pidFile: string, child: ChildProcess): Promise<void> {
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const deadline = Date.now() + KILL_GRACE_MS;
  while (running()) {
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      break;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  // A runtime that hangs (or never named the process) goes too.
  setTimeout(() => {
    if (running()) child.kill('SIGKILL');
  }, KILL_GRACE_MS).unref();
}

function signalNumber(sig: NodeJS.Signals | null): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
  return sig ? (numbers[sig] ?? 0) : 0;
}
