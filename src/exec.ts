// The one helper that runs external commands. Failures become CommandError carrying the
// command line, exit code and stderr, so callers never parse child_process errors.
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { CommandError } from './errors.js';
import { withSpan } from './tracing.js';

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
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  // Each command is a span when tracing is on (runc, conmon, CNI plugins show up in the call's trace).
  // Only the command and the argument count are recorded: arguments may carry secrets.
  return withSpan(`exec ${basename(command)}`, { 'process.command': command, 'process.args_count': args.length }, () => spawnAndWait(command, args, options));
}

function spawnAndWait(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out = new Capture(max);
    const err = new Capture(max);
    let timedOut = false;
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
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
