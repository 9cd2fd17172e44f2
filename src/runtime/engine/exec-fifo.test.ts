// Starting a created container through runc's exec fifo, on a real FIFO with a shell standing in
// for runc's init (it opens the fifo for writing, writes a byte, and carries on).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OciRuntime } from './oci-runtime.js';
import { startCreated } from './exec-fifo.js';

let root = '';
const children: ChildProcess[] = [];

function runtime(binary = '/usr/sbin/runc'): OciRuntime & { started: string[] } {
  const started: string[] = [];
  return {
    binary,
    root,
    started,
    start: async (id: string) => {
      started.push(id);
    },
  } as unknown as OciRuntime & { started: string[] };
}

function fifoFor(id: string): string {
  mkdirSync(join(root, id));
  const fifo = join(root, id, 'exec.fifo');
  execFileSync('mkfifo', [fifo]);
  return fifo;
}

describe('startCreated', () => {
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'nexcage-fifo-'));
  });
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('takes the byte init writes and removes the fifo (runc then reports the container running), without `runc start`', async () => {
    const fifo = fifoFor('c1');
    const init = spawn('sh', ['-c', `printf 0 > '${fifo}'; exec sleep 30`], { stdio: 'ignore' });
    children.push(init);
    const rt = runtime();
    await startCreated(rt, 'c1', init.pid!);
    expect(existsSync(fifo)).toBe(false);
    expect(rt.started).toEqual([]);
  });

  it('fails when init is gone without writing, instead of waiting', async () => {
    fifoFor('c2');
    const init = spawn('true');
    await new Promise((r) => init.on('exit', r));
    const t0 = Date.now();
    await expect(startCreated(runtime(), 'c2', init.pid!)).rejects.toThrow(/"c2" could not be started: its init process is already dead/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('leaves other runtimes, and a container without the fifo, to `runtime start`', async () => {
    fifoFor('c3');
    const crun = runtime('/usr/bin/crun');
    await startCreated(crun, 'c3', process.pid);
    expect(crun.started).toEqual(['c3']);
    const rt = runtime();
    await startCreated(rt, 'absent', process.pid);
    expect(rt.started).toEqual(['absent']);
  });
});
