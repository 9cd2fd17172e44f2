// The deadline queue with Node's timers faked: each call's deadline passes at its own time, in any
// order of arrival; a call that ended before its deadline is never told; calls one after another
// share one timer, which goes once it fires with no call left.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NO_SLOT } from '../slot-set.js';
import { Deadlines, type HasDeadline } from './deadlines.js';

class FakeCall implements HasDeadline {
  passedAt: number | undefined;
  deadlineSlot = NO_SLOT;
  constructor(
    readonly name: string,
    readonly deadlineAt: number,
  ) {}
  deadlinePassed(): void {
    this.passedAt = Date.now();
  }
}

describe('Deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('tells each call when its own deadline passes, whatever order they came in', () => {
    const q = new Deadlines<FakeCall>();
    const t0 = Date.now();
    const late = new FakeCall('late', t0 + 120_000);
    const soon = new FakeCall('soon', t0 + 200);
    const mid = new FakeCall('mid', t0 + 5_000);
    const same = new FakeCall('same', t0 + 200);
    for (const c of [late, soon, mid, same]) q.add(c);
    vi.advanceTimersByTime(199);
    expect([soon, same].map((c) => c.passedAt)).toEqual([undefined, undefined]);
    vi.advanceTimersByTime(1);
    expect([soon, same].map((c) => c.passedAt)).toEqual([t0 + 200, t0 + 200]);
    expect(mid.passedAt).toBeUndefined();
    vi.advanceTimersByTime(4_800);
    expect(mid.passedAt).toBe(t0 + 5_000);
    vi.advanceTimersByTime(115_000);
    expect(late.passedAt).toBe(t0 + 120_000);
    expect(q.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never tells a call that ended, and sets no timer once none is left', () => {
    const q = new Deadlines<FakeCall>();
    const t0 = Date.now();
    const ended = new FakeCall('ended', t0 + 100);
    const kept = new FakeCall('kept', t0 + 300);
    q.add(ended);
    q.add(kept);
    q.delete(ended);
    vi.advanceTimersByTime(100);
    expect(ended.passedAt).toBeUndefined();
    expect(kept.passedAt).toBeUndefined();
    vi.advanceTimersByTime(200);
    expect(kept.passedAt).toBe(t0 + 300);
    const short = new FakeCall('short', Date.now() + 50);
    q.add(short);
    q.delete(short);
    vi.advanceTimersByTime(1_000);
    expect(short.passedAt).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps one timer for calls made one after another, not one each', () => {
    const q = new Deadlines<FakeCall>();
    const set = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 100; i++) {
      const c = new FakeCall(`c${i}`, Date.now() + 120_000);
      q.add(c);
      vi.advanceTimersByTime(1);
      q.delete(c);
    }
    expect(set.mock.calls.length).toBe(1);
    set.mockRestore();
    const late = new FakeCall('late', Date.now() + 200_000);
    q.add(late);
    vi.advanceTimersByTime(200_000);
    expect(late.passedAt).toBe(Date.now());
  });

  it('moves the timer earlier for a call with a nearer deadline than any before it', () => {
    const q = new Deadlines<FakeCall>();
    const t0 = Date.now();
    const far = new FakeCall('far', t0 + 60_000);
    q.add(far);
    vi.advanceTimersByTime(10);
    const near = new FakeCall('near', Date.now() + 20);
    q.add(near);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(20);
    expect(near.passedAt).toBe(t0 + 30);
    expect(far.passedAt).toBeUndefined();
    vi.advanceTimersByTime(60_000);
    expect(far.passedAt).toBe(t0 + 60_000);
  });

  it('tells a call whose deadline had already passed when it came', () => {
    const q = new Deadlines<FakeCall>();
    const past = new FakeCall('past', Date.now() - 5);
    q.add(past);
    vi.advanceTimersByTime(0);
    expect(past.passedAt).toBe(Date.now());
  });
});
