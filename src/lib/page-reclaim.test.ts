// The idle policy on a fake clock, and the helper for real: a process whose file pages nobody
// else maps (a private copy of the Node binary) gets them paged out; bad pids are refused.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CommandError } from './errors.js';
import { findNativeHelper } from './native-helpers.js';
import { activityOf, IdleReclaimer, pageOut } from './page-reclaim.js';

function reclaimer(idleMs: number, reclaim = vi.fn(async () => undefined), onFailure = vi.fn()): { r: IdleReclaimer; clock: { t: number }; reclaim: typeof reclaim; onFailure: typeof onFailure } {
  const clock = { t: 1000 };
  const r = new IdleReclaimer({ idleMs, everyMs: 3_600_000, reclaim, onFailure, now: () => clock.t });
  return { r, clock, reclaim, onFailure };
}

describe('activityOf', () => {
  it('tells every watcher that is on about work, so each counts its own quiet spell', async () => {
    const a = reclaimer(1_000);
    const b = reclaimer(5_000);
    const both = activityOf([a.r, undefined, b.r]);
    both?.begin();
    a.clock.t += 10_000;
    b.clock.t += 10_000;
    await a.r.check();
    await b.r.check();
    expect([a.reclaim.mock.calls.length, b.reclaim.mock.calls.length]).toEqual([0, 0]);
    both?.end();
    a.clock.t += 1_000;
    b.clock.t += 1_000;
    await a.r.check();
    await b.r.check();
    expect([a.reclaim.mock.calls.length, b.reclaim.mock.calls.length]).toEqual([1, 0]);
    expect(activityOf([undefined, b.r])).toBe(b.r);
    expect(activityOf([undefined])).toBeUndefined();
    a.r.stop();
    b.r.stop();
  });
});

describe('IdleReclaimer', () => {
  it('reclaims once the daemon has been quiet for idleMs after start-up, and only once per quiet spell', async () => {
    const { r, clock, reclaim } = reclaimer(10_000);
    clock.t += 9_999;
    await r.check();
    expect(reclaim).not.toHaveBeenCalled();
    clock.t += 1;
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(1);
    clock.t += 60_000;
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(1);
    r.stop();
  });

  it('waits while work is in flight, counts idle time from when the last piece ended, and reclaims again after new work', async () => {
    const { r, clock, reclaim } = reclaimer(10_000);
    clock.t += 10_000;
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(1);
    r.begin();
    r.begin();
    clock.t += 30_000;
    r.end();
    clock.t += 30_000;
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(1); // one call still running
    r.end();
    clock.t += 5_000;
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(1);
    clock.t += 5_000;
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(2);
    r.stop();
  });

  it('runs one reclaim at a time, and work that arrives during it earns another quiet spell', async () => {
    let release = (): void => undefined;
    const reclaim = vi.fn(async (): Promise<undefined> => undefined);
    reclaim.mockImplementationOnce(() => new Promise<undefined>((res) => (release = () => res(undefined))));
    const { r, clock } = reclaimer(1_000, reclaim);
    clock.t += 1_000;
    const first = r.check();
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(1);
    r.begin();
    r.end();
    release();
    await first;
    clock.t += 1_000;
    await r.check();
    expect(reclaim).toHaveBeenCalledTimes(2);
    r.stop();
  });

  it('stops for good after a failure and reports it once', async () => {
    const err = new Error('process_madvise: Operation not permitted');
    const { r, clock, onFailure } = reclaimer(1_000, vi.fn(async () => Promise.reject(err)));
    clock.t += 1_000;
    await r.check();
    r.begin();
    r.end();
    clock.t += 5_000;
    await r.check();
    expect(onFailure).toHaveBeenCalledTimes(1);
    expect(onFailure).toHaveBeenCalledWith(err);
    expect(r.due()).toBe(false);
  });

  it('looks on its own timer', async () => {
    const reclaim = vi.fn(async () => undefined);
    const r = new IdleReclaimer({ idleMs: 20, everyMs: 10, reclaim, onFailure: vi.fn() });
    const deadline = Date.now() + 5000;
    while (reclaim.mock.calls.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    r.stop();
    expect(reclaim).toHaveBeenCalledTimes(1);
  });
});

function rssFileKiB(pid: number): number {
  return Number(/^RssFile:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('nexcage-pageout', () => {
  let dir = '';
  let child: ChildProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-pageout-'));
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it("pages out a process's read-only file mappings that no other process maps", async () => {
    // A private copy: the test runner's own Node maps the original, and shared pages stay put.
    const node = join(dir, 'node');
    copyFileSync(process.execPath, node);
    const c = spawn(node, ['-e', 'process.stdout.write("up\\n"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    child = c;
    await new Promise((res) => c.stdout?.once('data', res));
    const pid = c.pid as number;
    const before = rssFileKiB(pid);
    expect(before).toBeGreaterThan(16 * 1024);
    const res = await pageOut(pid, findNativeHelper('nexcage-pageout'));
    const after = rssFileKiB(pid);
    // At least the mapped size of the binary's resident pages was advised; most of them are gone.
    expect(res.advisedBytes).toBeGreaterThan(before * 1024);
    expect(after).toBeLessThan(before / 4);
    expect(c.exitCode).toBeNull();
  });

  it('names the pid it cannot reach, and refuses a malformed one', async () => {
    const helper = findNativeHelper('nexcage-pageout');
    const gone = spawn('true');
    await new Promise((res) => gone.on('exit', res));
    const err = await pageOut(gone.pid as number, helper).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).message).toMatch(new RegExp(`pidfd_open ${gone.pid}: No such process`));
    const usage = await pageOut(0, helper).catch((e: unknown) => e);
    expect((usage as CommandError).message).toMatch(/usage: nexcage-pageout PID/);
  });

  it('says so when the helper is not built', async () => {
    await expect(pageOut(process.pid, undefined)).rejects.toThrow(/nexcage-pageout is not built/);
  });
});
