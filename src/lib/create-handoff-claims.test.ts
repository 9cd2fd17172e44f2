// CreateHandoff on a fake clock: a held creation is claimed once by the identical retry and then
// never expired; unclaimed ones are undone after exactly holdMs; an undo that fails is logged; a
// shutdown keeps held results as they are.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CreateHandoff, fingerprint } from './create-handoff.js';

interface Line {
  level: number;
  msg: string;
  key?: string;
}

function handoff(expire: (r: string) => Promise<void> = async () => undefined) {
  const delivered: string[] = [];
  const expired: string[] = [];
  const lines: Line[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const h = new CreateHandoff<string>({
    holdMs: 1000,
    operation: 'RunPodSandbox',
    log,
    deliver: (r) => delivered.push(r),
    expire: async (r) => {
      expired.push(r);
      await expire(r);
    },
  });
  return { h, delivered, expired, lines };
}

/** A creation the test finishes by hand. */
function work(): { promise: Promise<string>; finish: (v: string) => void } {
  let finish!: (v: string) => void;
  const promise = new Promise<string>((r) => (finish = r));
  return { promise, finish };
}

describe('CreateHandoff claims and expiry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('the identical retry claims the held result once; it is then delivered and never expired', async () => {
    const { h, delivered, expired, lines } = handoff();
    const gone = new AbortController();
    const w = work();
    const first = h.run('pod-a', 'fp', gone.signal, () => w.promise);
    gone.abort();
    await expect(first).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', message: 'RunPodSandbox: the caller went away; the work goes on and is handed to an identical retry' });
    w.finish('sandbox-1');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.isHeld('pod-a')).toBe(true);
    expect(h.fingerprintOf('pod-a')).toBe('fp');
    expect(delivered).toEqual([]);

    await vi.advanceTimersByTimeAsync(999);
    expect(await h.join('pod-a', new AbortController().signal)).toBe('sandbox-1');
    expect(delivered).toEqual(['sandbox-1']);
    expect(h.isHeld('pod-a')).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(expired).toEqual([]);
    expect(lines.map((l) => l.msg)).toEqual([
      'RunPodSandbox finished after its caller went away; kept for an identical retry',
      'RunPodSandbox: handing the finished creation to the identical retry',
    ]);
    // Claimed once: a further join finds nothing.
    await expect(h.join('pod-a', undefined)).rejects.toThrow('no RunPodSandbox in flight for pod-a');
  });

  it('a retry that joins in flight and stays gets the result; if it gives up too, the result is held', async () => {
    const { h, delivered } = handoff();
    const first = new AbortController();
    const retry = new AbortController();
    const w = work();
    const p1 = h.run('k', 'fp', first.signal, () => w.promise);
    first.abort();
    await expect(p1).rejects.toThrow(/went away/);
    const p2 = h.join('k', retry.signal);
    w.finish('c-1');
    expect(await p2).toBe('c-1');
    expect(delivered).toEqual(['c-1']);

    const w2 = work();
    const a = new AbortController();
    const b = new AbortController();
    const q1 = h.run('k2', 'fp', a.signal, () => w2.promise);
    const q2 = h.join('k2', b.signal);
    a.abort();
    b.abort();
    await expect(q1).rejects.toThrow(/went away/);
    await expect(q2).rejects.toThrow(/went away/);
    // A retry whose own caller is already gone is refused at once, the work untouched.
    const dead = new AbortController();
    dead.abort();
    await expect(h.join('k2', dead.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    w2.finish('c-2');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.isHeld('k2')).toBe(true);
    expect(delivered).toEqual(['c-1']);
  });

  it('unclaimed for holdMs: undone once; an undo that fails is logged, not thrown', async () => {
    const { h, expired, lines } = handoff(() => Promise.reject(new Error('runc delete: busy')));
    const gone = new AbortController();
    gone.abort();
    await expect(h.run('k', 'fp', gone.signal, async () => 'x')).rejects.toThrow(/went away/);
    await vi.advanceTimersByTimeAsync(999);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(expired).toEqual(['x']);
    expect(h.isHeld('k')).toBe(false);
    expect(lines.slice(-2)).toEqual([
      expect.objectContaining({ level: 40, key: 'k', msg: 'RunPodSandbox: no retry claimed the creation its caller gave up on; undoing it' }),
      expect.objectContaining({ level: 50, key: 'k', msg: 'RunPodSandbox: undoing an unclaimed creation failed' }),
    ]);
  });

  it('close() (shutdown) leaves held results alone: nothing is undone afterwards', async () => {
    const { h, expired } = handoff();
    const gone = new AbortController();
    gone.abort();
    await expect(h.run('k', 'fp', gone.signal, async () => 'kept')).rejects.toThrow(/went away/);
    const w = work();
    const inFlight = h.run('busy', 'fp', undefined, () => w.promise);
    h.close();
    await vi.advanceTimersByTimeAsync(5000);
    expect(expired).toEqual([]);
    w.finish('done');
    expect(await inFlight).toBe('done');
  });

  it('discard() only drops a held result; a creation in flight under that key is untouched', async () => {
    const { h, delivered, expired } = handoff();
    const w = work();
    const p = h.run('k', 'fp', undefined, () => w.promise);
    h.discard('k');
    h.discard('never-seen');
    expect(h.fingerprintOf('k')).toBe('fp');
    w.finish('v');
    expect(await p).toBe('v');
    expect(delivered).toEqual(['v']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(expired).toEqual([]);
  });
});

describe('fingerprint', () => {
  it('keeps array order and nulls, sorts keys at every depth, tells types apart', () => {
    expect(fingerprint({ b: [3, 1, 2], a: null })).toBe('{"a":null,"b":[3,1,2]}');
    expect(fingerprint([{ b: 1, a: 2 }])).toBe('[{"a":2,"b":1}]');
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: '1' }));
    expect(fingerprint({ b: 1, a: 1, c: 1 })).toBe('{"a":1,"b":1,"c":1}');
  });
});
