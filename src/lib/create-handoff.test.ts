import { describe, expect, it } from 'vitest';
import { silentLogger } from './log.js';
import { CreateHandoff, fingerprint } from './create-handoff.js';

function handoff(holdMs = 1_000) {
  const delivered: string[] = [];
  const expired: string[] = [];
  const h = new CreateHandoff<string>({ holdMs, operation: 'Create', log: silentLogger(), deliver: (r) => delivered.push(r), expire: async (r) => void expired.push(r) });
  return { h, delivered, expired };
}

describe('CreateHandoff', () => {
  it('delivers at once to a caller that is still there', async () => {
    const { h, delivered } = handoff();
    expect(await h.run('k', 'f', new AbortController().signal, async () => 'pod')).toBe('pod');
    expect(delivered).toEqual(['pod']);
    expect(h.fingerprintOf('k')).toBeUndefined();
  });

  it('holds what a gone caller left for the retry, and expires it when none comes', async () => {
    const { h, delivered, expired } = handoff(10);
    const a = new AbortController();
    const p = h.run('k', 'f', a.signal, () => new Promise((r) => setTimeout(() => r('pod'), 20)));
    a.abort();
    await expect(p).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    await new Promise((r) => setTimeout(r, 30));
    expect(h.isHeld('k') || expired.length === 1).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(expired).toEqual(['pod']);
    expect(delivered).toEqual([]);
    await expect(h.join('k', undefined)).rejects.toThrow(/no Create in flight/);
  });

  it('passes a failure to every waiter and forgets the key; discard drops a held result', async () => {
    const { h } = handoff();
    const first = h.run('k', 'f', undefined, () => new Promise((_r, rej) => setTimeout(() => rej(new Error('boom')), 5)));
    const second = h.join('k', undefined);
    await expect(first).rejects.toThrow('boom');
    await expect(second).rejects.toThrow('boom');
    expect(h.fingerprintOf('k')).toBeUndefined();
    const a = new AbortController();
    a.abort();
    await expect(h.run('d', 'f', a.signal, async () => 'x')).rejects.toThrow(/went away/);
    await new Promise((r) => setTimeout(r, 5));
    expect(h.isHeld('d')).toBe(true);
    h.discard('d');
    expect(h.isHeld('d')).toBe(false);
    expect(() => h.throwIfGone(a.signal)).toThrow(/before the work started/);
    h.close();
  });

  it('is abandoned only when no caller waits any more', async () => {
    const { h } = handoff();
    const a = new AbortController();
    let finish: (v: string) => void = () => undefined;
    const p = h.run('k', 'f', a.signal, () => new Promise((r) => (finish = r)));
    expect(h.abandoned('k')).toBe(false);
    expect(h.abandoned('other')).toBe(false);
    a.abort();
    await expect(p).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(h.abandoned('k')).toBe(true);
    const retry = h.join('k', undefined);
    expect(h.abandoned('k')).toBe(false);
    finish('pod');
    expect(await retry).toBe('pod');
  });

  it('fingerprints a request the same whatever the key order', () => {
    expect(fingerprint({ a: 1, b: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(fingerprint({ b: { c: null, d: [1, { x: 1, y: 2 }] }, a: 1 }));
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: 2 }));
  });
});
