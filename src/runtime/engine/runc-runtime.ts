// OciRuntime for runc-compatible binaries: each call runs `<binary> --root R --log L --log-format
// json [--systemd-cgroup] <command> ...` through exec.ts; on failure the JSON log's error lines
// replace the (usually empty) stderr in the thrown CommandError.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError } from '../../lib/errors.js';
import { run, type RunOptions, type RunResult } from '../../lib/exec.js';
import { runtimeLogErrors, type CheckpointOptions, type CreateOptions, type ExecOptions, type ExecResult, type OciRuntime, type OciState } from './oci-runtime.js';

export interface RuncRuntimeOptions {
  handler: string;
  binary: string;
  root: string;
  systemdCgroup: boolean;
  /** Per-call timeout; runc calls that hang must not hang an RPC forever. */
  timeoutMs?: number;
}

export class RuncRuntime implements OciRuntime {
  readonly handler: string;
  readonly binary: string;
  readonly root: string;
  readonly systemdCgroup: boolean;
  private readonly timeoutMs: number;

  constructor(o: RuncRuntimeOptions) {
    this.handler = o.handler;
    this.binary = o.binary;
    this.root = o.root;
    this.systemdCgroup = o.systemdCgroup;
    this.timeoutMs = o.timeoutMs ?? 60_000;
  }

  globalArgs(logPath?: string): string[] {
    const args = [`--root=${this.root}`];
    if (logPath) args.push(`--log=${logPath}`, '--log-format=json');
    if (this.systemdCgroup) args.push('--systemd-cgroup');
    return args;
  }

  /** Run one runtime command with its own JSON log file, read back into the error on failure. */
  private async call(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const logDir = join(this.root, '.logs');
    await mkdir(logDir, { recursive: true, mode: 0o700 });
    const logPath = join(logDir, `${randomBytes(6).toString('hex')}.json`);
    try {
      const res = await run(this.binary, [...this.globalArgs(logPath), ...args], { timeoutMs: this.timeoutMs, ...options, allowFailure: true });
      if (res.exitCode !== 0 && !options.allowFailure) {
        const logged = runtimeLogErrors(await readFile(logPath, 'utf8').catch(() => ''));
        const stderr = [res.stderr.trim(), ...logged].filter(Boolean).join('\n');
        throw new CommandError(this.binary, args, res.exitCode, res.signal, stderr);
      }
      return res;
    } finally {
      await unlink(logPath).catch(() => undefined);
    }
  }

  async create(id: string, o: CreateOptions): Promise<void> {
    const args = ['create', '--bundle', o.bundle, '--pid-file', o.pidFile];
    if (o.consoleSocket) args.push('--console-socket', o.consoleSocket);
    await this.call([...args, id]);
  }

  async start(id: string): Promise<void> {
    await this.call(['start', id]);
  }

  async state(id: string): Promise<OciState | undefined> {
    const res = await this.call(['state', id], { allowFailure: true });
    if (res.exitCode !== 0) {
      // runc answers "container does not exist" for unknown ids; anything else is a real failure.
      if (/does not exist|not exist|no such/i.test(res.stderr) || res.stderr.trim() === '') return undefined;
      throw new CommandError(this.binary, ['state', id], res.exitCode, res.signal, res.stderr);
    }
    return JSON.parse(res.stdout) as OciState;
  }

  async list(): Promise<OciState[]> {
    const res = await this.call(['list', '--format', 'json']);
    const parsed = JSON.parse(res.stdout.trim() || 'null') as OciState[] | null;
    return parsed ?? [];
  }

  async kill(id: string, signal: string, o: { all?: boolean } = {}): Promise<void> {
    await this.call(['kill', ...(o.all ? ['--all'] : []), id, signal]);
  }

  async delete(id: string, o: { force?: boolean } = {}): Promise<void> {
    const res = await this.call(['delete', ...(o.force ? ['--force'] : []), id], { allowFailure: true });
    if (res.exitCode === 0) return;
    if ((await this.state(id)) === undefined) return; // already gone: delete is idempotent
    throw new CommandError(this.binary, ['delete', id], res.exitCode, res.signal, res.stderr);
  }

  async exec(id: string, o: ExecOptions): Promise<ExecResult> {
    const args = ['exec', '--process', o.processPath];
    if (o.detach) args.push('--detach');
    if (o.pidFile) args.push('--pid-file', o.pidFile);
    if (o.tty) args.push('--tty');
    if (o.consoleSocket) args.push('--console-socket', o.consoleSocket);
    const res = await this.call([...args, id], { allowFailure: true, timeoutMs: o.timeoutMs ?? this.timeoutMs });
    return { stdout: res.stdout, stderr: res.stderr, exitCode: res.exitCode };
  }

  async update(id: string, resources: object): Promise<void> {
    await this.call(['update', '--resources', '-', id], { input: JSON.stringify(resources) });
  }

  async pause(id: string): Promise<void> {
    await this.call(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.call(['resume', id]);
  }

  async ps(id: string): Promise<number[]> {
    const res = await this.call(['ps', '--format', 'json', id]);
    return (JSON.parse(res.stdout.trim() || '[]') as number[] | null) ?? [];
  }

  async features(): Promise<unknown> {
    const res = await this.call(['features']);
    return JSON.parse(res.stdout) as unknown;
  }

  checkpointArgs(id: string, o: CheckpointOptions): string[] {
    const args = [...this.globalArgs(o.logPath), '--criu', o.criu, 'checkpoint', '--image-path', o.imagePath, '--work-path', o.workPath];
    if (o.leaveRunning) args.push('--leave-running');
    if (o.tcpEstablished) args.push('--tcp-established');
    if (o.fileLocks) args.push('--file-locks');
    return [...args, id];
  }
}
