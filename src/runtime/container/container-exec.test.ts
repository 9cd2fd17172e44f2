// ExecSync's process and timeout with a stand-in runtime whose `exec` runs the command on the
// host: the container's own process settings with the command as args, the result as the
// command left it, and a command outliving its timeout killed (DEADLINE_EXCEEDED) rather than
// holding the call.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeadlineExceededError, FailedPreconditionError } from '../../lib/errors.js';
import type { ExecOptions, ExecResult, OciRuntime } from '../engine/oci-runtime.js';
import type { Process } from '../oci-spec/types.js';
import { FakeRuntime, World } from '../test-fakes.js';
import { execInContainer } from './container-exec.js';
import type { Container } from './container-record.js';

let dir: string;
let bundle: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-exec-'));
  bundle = join(dir, 'bundle');
  mkdirSync(bundle);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** `runtime exec`: the process file's args run on the host, its pid in --pid-file as runc writes it. */
class HostExecRuntime extends FakeRuntime {
  readonly seen: Process[] = [];
  override async exec(_id: string, o: ExecOptions): Promise<ExecResult> {
    const proc = JSON.parse(readFileSync(o.processPath, 'utf8')) as Process;
    this.seen.push(proc);
    const [cmd = '', ...args] = proc.args ?? [];
    return new Promise((resolve) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      if (o.pidFile && child.pid) writeFileSync(o.pidFile, String(child.pid));
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolve({ stdout, stderr, exitCode: code }));
    });
  }
}

function container(): Container {
  return { id: 'e'.repeat(64), bundle } as Container;
}

function writeSpec(): void {
  const proc: Process = { args: ['sleep', 'infinity'], cwd: '/work', env: ['PATH=/usr/bin:/bin', 'APP=1'], user: { uid: 1000, gid: 1000 }, terminal: true, consoleSize: { height: 24, width: 80 } };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: proc }));
}

describe('ExecSync', () => {
  it("runs the command with the container's env, user and cwd, without a terminal, and returns what it left", async () => {
    writeSpec();
    const rt = new HostExecRuntime(new World(dir));
    const res = await execInContainer(rt as OciRuntime, container(), ['sh', '-c', 'echo out; echo err >&2; exit 3'], 10);
    expect(res).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    expect(rt.seen[0]).toEqual({ args: ['sh', '-c', 'echo out; echo err >&2; exit 3'], cwd: '/work', env: ['PATH=/usr/bin:/bin', 'APP=1'], user: { uid: 1000, gid: 1000 }, terminal: false });
    // The process and pid files are gone afterwards.
    expect(readdirSync(bundle)).toEqual(['config.json']);
  });

  it('kills a command that outlives its timeout and fails with DEADLINE_EXCEEDED', async () => {
    writeSpec();
    const started = Date.now();
    const err = await execInContainer(new HostExecRuntime(new World(dir)), container(), ['sleep', '30'], 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as Error).message).toBe(`ExecSync in container "${'e'.repeat(64)}": command ["sleep","30"] timed out after 1 s and was killed`);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(readdirSync(bundle)).toEqual(['config.json']);
  });

  it('without a timeout waits for the command; a command killed by a signal reports 137', async () => {
    writeSpec();
    const res = await execInContainer(new HostExecRuntime(new World(dir)), container(), ['sh', '-c', 'kill -9 $$'], 0);
    expect(res.exitCode).toBe(137);
  });

  it('is FAILED_PRECONDITION when the container has no OCI spec', async () => {
    await expect(execInContainer(new HostExecRuntime(new World(dir)), container(), ['true'], 0)).rejects.toBeInstanceOf(FailedPreconditionError);
  });
});
