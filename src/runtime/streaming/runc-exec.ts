// ExecBackend on the OCI runtime's `exec` (runc CLI contract): the process joins the running
// container and gets the container's env, cwd and user from its config. Without a TTY its stdio
// are pipes; with a TTY it runs under nexcage-pty (native/nexcage-pty.c), which gives it a real
// terminal because Node cannot allocate one, and applies resize events. Killing the exec'd
// process (its pid from --pid-file) is how a client that goes away ends it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { InternalError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
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
  /** Scratch dir for --pid-file files. */
  workDir: string;
  /** The nexcage-pty helper; defaults to dist/native/nexcage-pty beside the build. */
  ptyHelper?: string;
  log: Logger;
}

const KILL_GRACE_MS = 2000;

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
    const pidFile = join(this.options.workDir, `exec-${randomBytes(8).toString('hex')}.pid`);
    let child: ChildProcess;
    let unsubscribe = (): void => undefined;
    if (tty) {
      if (!existsSync(this.ptyHelper)) throw new InternalError(`exec with a tty needs ${this.ptyHelper} (built by make build)`);
      const size = io.resize?.latest;
      // A foreground runc would put pipes between itself and the process; a detached one hands
      // the process its own stdio (the pty). The helper reaps it and reports its exit code.
      const runcArgs = [...target.runtimeArgs, 'exec', '--detach', '--pid-file', pidFile, containerId, ...cmd];
      child = spawn(this.ptyHelper, ['-p', pidFile, String(size?.width ?? 0), String(size?.height ?? 0), target.runtimePath, ...runcArgs], {
        stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      });
      const ctl = child.stdio[3] as Writable;
      ctl.on('error', () => undefined);
      if (io.resize) unsubscribe = io.resize.subscribe((s) => ctl.write(`${s.width} ${s.height}\n`));
    } else {
      const runcArgs = [...target.runtimeArgs, 'exec', '--pid-file', pidFile, containerId, ...cmd];
      child = spawn(target.runtimePath, runcArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    }
    const log = this.options.log.child({ containerId, execPid: child.pid });
    const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((res, rej) => {
      child.once('error', rej);
      child.once('close', (code, sig) => res({ code, sig }));
    });
    const childStdin = child.stdin as Writable;
    childStdin.on('error', () => undefined); // EPIPE once the process exits without reading
    if (io.stdin) io.stdin.pipe(childStdin);
    else childStdin.end();
    copyOut(child.stdout as Readable, io.stdout);
    copyOut(child.stderr as Readable, tty ? null : io.stderr);

    const onAbort = (): void => {
      log.debug('client went away, killing the exec process');
      void killExecProcess(pidFile, child);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      const { code, sig } = await exited;
      return code ?? 128 + signalNumber(sig);
    } finally {
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
      if (io.stdin) {
        io.stdin.unpipe(childStdin);
        io.stdin.resume(); // drain whatever the client still sends
      }
      await rm(pidFile, { force: true });
    }
  }
}

function copyOut(from: Readable, to: Writable | null): void {
  if (!to) {
    from.resume();
    return;
  }
  from.pipe(to, { end: false });
  to.on('error', () => from.unpipe(to));
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
