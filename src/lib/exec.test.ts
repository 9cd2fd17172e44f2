// run(): how an external command's failure reaches the caller (CommandError: the command line,
// how it ended, the tail of its stderr), timeouts that kill, output caps, and the sync-pipe mode's
// own failure paths. Real processes (sh), no fakes: this is the seam everything else fakes.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError } from './errors.js';
import { run } from './exec.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-exec-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether a process with this pid is still alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('run()', () => {
  it('returns stdout/stderr and exit code 0; passes input, env and cwd', async () => {
    const res = await run('sh', ['-c', 'read line; echo "got $line in $PWD as $WHO"; echo warn >&2'], { input: 'hello\n', env: { PATH: process.env.PATH, WHO: 'tester' }, cwd: dir });
    expect(res).toEqual({ stdout: `got hello in ${dir} as tester\n`, stderr: 'warn\n', exitCode: 0, signal: null });
  });

  it('a non-zero exit is a CommandError (INTERNAL) with the command line, exit code and the last 5 stderr lines', async () => {
    const err = (await run('sh', ['-c', 'for i in 1 2 3 4 5 6 7; do echo "line $i" >&2; echo >&2; done; exit 3'], {}).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.code).toBe('INTERNAL');
    expect(err.exitCode).toBe(3);
    expect(err.signal).toBeNull();
    expect(err.message).toBe('sh -c for i in 1 2 3 4 5 6 7; do echo "line $i" >&2; echo >&2; done; exit 3: exit code 3: line 3 | line 4 | line 5 | line 6 | line 7');
  });

  it('allowFailure hands the failed result back instead of throwing', async () => {
    const res = await run('sh', ['-c', 'echo out; echo err >&2; exit 7'], { allowFailure: true });
    expect(res).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 7, signal: null });
  });

  it('a command that is not installed fails with "not found", not a raw spawn error', async () => {
    await expect(run('nexcage-no-such-command', ['x'])).rejects.toMatchObject({ code: 'INTERNAL', message: 'nexcage-no-such-command x: not found', exitCode: null });
    await expect(run('nexcage-no-such-command', [], { allowFailure: true })).rejects.toThrow(/not found/);
  });

  it('a file that cannot be executed fails with the system error', async () => {
    const path = join(dir, 'not-executable');
    writeFileSync(path, '#!/bin/sh\nexit 0\n');
    chmodSync(path, 0o644);
    await expect(run(path, [])).rejects.toThrow(new RegExp(`^${path} : .*EACCES`));
  });

  it('a process killed by a signal says so', async () => {
    await expect(run('sh', ['-c', 'kill -TERM $$'])).rejects.toMatchObject({ message: 'sh -c kill -TERM $$: killed by SIGTERM', signal: 'SIGTERM' });
  });

  it('a timeout kills the command (SIGKILL) and fails promptly, even with allowFailure', async () => {
    const started = Date.now();
    const pidFile = join(dir, 'timeout.pid');
    const err = (await run('sh', ['-c', `echo $$ > ${pidFile}; echo "starting" >&2; exec sleep 30`], { timeoutMs: 200, allowFailure: true }).catch((e: unknown) => e)) as CommandError;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err.message).toMatch(/: timed out after 200 ms: starting$/);
    expect(err.signal).toBe('SIGKILL');
    expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('a timeout also kills what the command started, and does not wait on pipes a descendant holds', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const started = Date.now();
    // The shell is not exec'd away: sleep runs as its child, holding stdout/stderr open.
    const err = (await run('sh', ['-c', `sleep 30 & echo $! > ${pidFile}; wait`], { timeoutMs: 200 }).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.message).toMatch(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    const deadline = Date.now() + 5_000;
    while (alive(grandchild) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive(grandchild)).toBe(false);
  });

  it('caps captured output at maxOutputBytes per stream and still waits for the exit', async () => {
    const res = await run('sh', ['-c', 'head -c 100000 /dev/zero | tr "\\0" a; head -c 5000 /dev/zero | tr "\\0" b >&2'], { maxOutputBytes: 1000 });
    expect(res.stdout).toBe('a'.repeat(1000));
    expect(res.stderr).toBe('b'.repeat(1000));
    expect(res.exitCode).toBe(0);
  });

  it('a command that exits without reading a large input is judged by its exit status (no EPIPE crash)', async () => {
    const res = await run('sh', ['-c', 'exit 0'], { input: Buffer.alloc(4 * 1024 * 1024, 1) });
    expect(res.exitCode).toBe(0);
    await expect(run('sh', ['-c', 'exit 2'], { input: Buffer.alloc(4 * 1024 * 1024, 1) })).rejects.toThrow(/exit code 2/);
  });
});

describe('run() with a sync pipe', () => {
  it('collects several messages; a last one without a newline still counts when the pipe closes', async () => {
    const res = await run('sh', ['-c', 'echo one >&$SYNC; echo two >&$SYNC; printf three >&$SYNC'], { syncPipe: { env: 'SYNC', lines: 5 } });
    expect(res.sync).toEqual(['one', 'two', 'three']);
    expect(res.exitCode).toBe(0);
  });

  it('a child that neither reports nor exits is killed at the timeout; its output is in the error', async () => {
    const started = Date.now();
    const err = (await run('sh', ['-c', 'echo "waiting for nothing"; exec sleep 30'], { syncPipe: { env: 'SYNC', lines: 1 }, timeoutMs: 200 }).catch((e: unknown) => e)) as CommandError;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(CommandError);
    expect(err.message).toMatch(/timed out after 200 ms: waiting for nothing$/);
  });

  it('a command that is not installed fails with "not found"', async () => {
    await expect(run('nexcage-no-such-command', [], { syncPipe: { env: 'SYNC', lines: 1 } })).rejects.toMatchObject({ message: 'nexcage-no-such-command : not found' });
  });

  it('a file that cannot be executed fails with the system error', async () => {
    const path = join(dir, 'not-executable-sync');
    writeFileSync(path, '#!/bin/sh\nexit 0\n');
    chmodSync(path, 0o644);
    await expect(run(path, [], { syncPipe: { env: 'SYNC', lines: 1 } })).rejects.toThrow(/EACCES/);
  });

  it('a failure keeps the combined output (stdout and stderr share the file) for the error', async () => {
    await expect(run('sh', ['-c', 'echo "to stdout"; echo "to stderr" >&2; exit 5'], { syncPipe: { env: 'SYNC', lines: 1 } })).rejects.toThrow(/exit code 5: to stdout \| to stderr$/);
  });
});
