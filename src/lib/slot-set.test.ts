// SlotSet: a set of call-lifetime members with no hash table. Membership by the member's own
// index; a removal moves the last member into the gap and keeps every member findable; and, the
// reason it exists, add/delete churn on a long-lived set leaves no garbage in V8's old generation
// (measured in a child Node with a bounded young generation, as the daemon runs, beside a Set).
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_SLOT, SlotSet } from './slot-set.js';

interface Member {
  name: string;
  slot: number;
  other: number;
}
const member = (name: string): Member => ({ name, slot: NO_SLOT, other: NO_SLOT });

describe('SlotSet', () => {
  it('holds each member once, and finds every member after others leave from any place', () => {
    const s = new SlotSet<'slot', Member>('slot');
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(member) as [Member, Member, Member, Member];
    for (const m of [a, b, c, d, b]) s.add(m);
    expect(s.size).toBe(4);
    expect(s.delete(a)).toBe(true);
    expect(s.delete(a)).toBe(false);
    expect(a.slot).toBe(NO_SLOT);
    expect([b, c, d].map((m) => s.has(m))).toEqual([true, true, true]);
    expect(s.delete(c)).toBe(true);
    expect(s.snapshot().map((m) => m.name).sort()).toEqual(['b', 'd']);
    expect(s.has(a) || s.has(c)).toBe(false);
    s.add(a);
    expect(s.snapshot().map((m) => m.name).sort()).toEqual(['a', 'b', 'd']);
  });

  it('keeps a member in two sets apart by their keys, and is not fooled by a stale index', () => {
    const one = new SlotSet<'slot', Member>('slot');
    const two = new SlotSet<'other', Member>('other');
    const [a, b] = [member('a'), member('b')];
    one.add(a);
    two.add(b);
    two.add(a);
    expect([one.has(a), two.has(a), one.has(b), two.has(b)]).toEqual([true, true, false, true]);
    // b's index in `two` is 0; the same number under `slot` must not make it a member of `one`.
    expect(b.slot).toBe(NO_SLOT);
    const stranger = { name: 'x', slot: 0, other: 0 };
    expect(one.has(stranger)).toBe(false);
    expect(one.delete(stranger)).toBe(false);
    expect(one.size).toBe(1);
  });

  it('gives a snapshot the set may change under, and clear() takes every member out', () => {
    const s = new SlotSet<'slot', Member>('slot');
    const ms = ['a', 'b', 'c'].map(member);
    for (const m of ms) s.add(m);
    for (const m of s.snapshot()) s.delete(m);
    expect(s.size).toBe(0);
    for (const m of ms) s.add(m);
    s.clear();
    expect(s.size).toBe(0);
    expect(ms.map((m) => m.slot)).toEqual([NO_SLOT, NO_SLOT, NO_SLOT]);
  });

  it('leaves no old-generation garbage under add/delete churn, where a long-lived Set leaves tens of bytes a call', () => {
    const script = `
      import v8 from 'node:v8';
      import { SlotSet } from ${JSON.stringify(resolve(import.meta.dirname, 'slot-set.ts'))};
      const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
      const members = Array.from({ length: 4 }, (_, i) => ({ i, slot: -1 }));
      const slots = new SlotSet('slot');
      const set = new Set();
      // Both sets live long, as the daemon's do: promoted to the old generation first.
      globalThis.gc(); globalThis.gc();
      const grew = (churn) => { globalThis.gc(); const before = old(); for (let i = 0; i < 100000; i++) churn(members[i & 3]); return old() - before; };
      const slotGrowth = grew((m) => { slots.add(m); slots.delete(m); });
      const setGrowth = grew((m) => { set.add(m); set.delete(m); });
      console.log(JSON.stringify({ slotGrowth, setGrowth }));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const { slotGrowth, setGrowth } = JSON.parse(out) as { slotGrowth: number; setGrowth: number };
    expect(setGrowth).toBeGreaterThan(2 << 20);
    expect(slotGrowth).toBeLessThan(256 << 10);
  });
});
