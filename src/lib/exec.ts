// The one helper that runs external commands. Failures become CommandError carrying the
// command line, exit code and stderr, so callers never parse child_process errors.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { CommandError } from './errors.js';
import { tracingEnabled, withSpan } from './tracing.js';

export interface RunOptions {
  /** Written to the child's stdin, then stdin is closed. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the child (SIGKILL) and fail after this many milliseconds. */
  timeoutMs?: number;
  /** Cap on captured stdout/stderr bytes each; the rest is dropped. */
  maxOutputBytes?: number;
  /** Do not throw on a non-zero exit; the caller inspects exitCode. */
  allowFailure?: boolean;
  /**
   * For programs that daemonize and report through a pipe (conmon's _OCI_SYNCPIPE): the child gets
   * a pipe on fd 3 named by `env`, runs in its own session, and the call settles once the child
   * exited and `lines` newline-terminated messages arrived on the pipe (or it closed). stdout and
   * stderr then go to a temp file instead of pipes, so a surviving grandchild never writes into a
   * pipe nobody reads. The messages are in RunResult.sync.
   */
  syncPipe?: { env: string; lines: number };
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The messages read from the sync pipe (syncPipe mode only). */
  sync?: string[];
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  // Each command is a span when tracing is on (runc, conmon, CNI plugins show up in the call's trace).
  // Only the command and the argument count are recorded: arguments may carry secrets.
  const spawnIt = (): Promise<RunResult> => (options.syncPipe ? spawnWithSyncPipe(command, args, options, options.syncPipe) : spawnAndWait(command, args, options));
  if (!tracingEnabled()) return spawnIt();
  return withSpan(`exec ${basename(command)}`, { 'process.command': command, 'process.args_count': args.length }, spawnIt);
}

async function spawnWithSyncPipe(command: string, args: readonly string[], options: RunOptions, sync: { env: string; lines: number }): Promise<RunResult> {
  const outPath = join(tmpdir(), `nexcage-run-${randomBytes(6).toString('hex')}.out`);
  const outFd = openSync(outPath, 'w+', 0o600);
  // Unlinked at once: the output lives only behind the fd, so even a daemon killed mid-call leaves no file.
  unlinkSync(outPath);
  try {
    const res = await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(command, args, {
        cwd: options.cwd,
        env: { ...(options.env ?? process.env), [sync.env]: '3' },
        stdio: ['ignore', outFd, outFd, 'pipe'],
        detached: true,
      });
      const pipe = child.stdio[3] as Readable | null;
      let buf = '';
      const messages: string[] = [];
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let pipeDone = false;
      let settled = false;
      const timer =
        options.timeoutMs !== undefined
          ? setTimeout(() => {
              settled = true;
              child.kill('SIGKILL');
              pipe?.destroy();
              child.unref();
              reject(new CommandError(command, args, null, null, readOutput(outFd), `timed out after ${options.timeoutMs} ms`));
            }, options.timeoutMs)
          : undefined;
      const settle = (): void => {
        if (settled || !exit || !pipeDone) return;
        settled = true;
        clearTimeout(timer);
        pipe?.destroy();
        child.unref();
        resolve({ stdout: '', stderr: '', exitCode: exit.code, signal: exit.signal, sync: messages });
      };
      pipe?.on('data', (b: Buffer) => {
        buf += b.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          messages.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        if (messages.length >= sync.lines) {
          pipeDone = true;
          settle();
        }
      });
      pipe?.on('close', () => {
        if (buf.trim() !== '') messages.push(buf);
        buf = '';
        pipeDone = true;
        settle();
      });
      pipe?.on('error', () => undefined);
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        settled = true;
        reject(new CommandError(command, args, null, null, '', e.code === 'ENOENT' ? 'not found' : e.message));
      });
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        settle();
      });
    });
    const text = readOutput(outFd);
    res.stdout = text;
    res.stderr = text;
    if (res.exitCode !== 0 && !options.allowFailure) throw new CommandError(command, args, res.exitCode, res.signal, text);
    return res;
  } finally {
    closeSync(outFd);
  }
}

/** Everything written to the (unlinked) output file, read by position: the child moved the shared offset. */
function readOutput(fd: number): string {
  const size = Math.min(fstatSync(fd).size, DEFAULT_MAX_OUTPUT);
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off).toString('utf8');
}

function spawnAndWait(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so a timeout also kills what it started (a hung runc's init, a CNI
      // plugin's IPAM child) instead of waiting on the pipes they hold open.
      detached: true,
    });
    const out = new Capture(max);
    const err = new Capture(max);
    let timedOut = false;
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            killGroup(child.pid);
            child.kill('SIGKILL');
            // A descendant that left the group may still hold the pipes: stop waiting for them.
            child.stdout?.destroy();
            child.stderr?.destroy();
          }, options.timeoutMs)
        : undefined;
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CommandError(command, args, null, null, '', e.code === 'ENOENT' ? 'not found' : e.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = { stdout: out.text(), stderr: err.text(), exitCode: code, signal };
      if (timedOut) {
        reject(new CommandError(command, args, code, signal, result.stderr, `timed out after ${options.timeoutMs} ms`));
      } else if (code !== 0 && !options.allowFailure) {
        reject(new CommandError(command, args, code, signal, result.stderr));
      } else {
        resolve(result);
      }
    });
    child.stdin?.on('error', () => {
      // The child may exit without reading its input (EPIPE); its exit status tells the story.
    });
    child.stdin?.end(options.input);
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

class Capture {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    if (this.size >= this.max) return;
    const take = b.subarray(0, this.max - this.size);
    this.chunks.push(take);
    this.size += take.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
