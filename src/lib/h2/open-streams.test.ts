// A connection's open streams: found by id among many, in the order the client opened them; a
// closed stream is gone, another stream with its id is not taken for it, and out-of-order opens
// are refused (the session resets those before they get here).
import { describe, expect, it } from 'vitest';
import { OpenStreams } from './open-streams.js';

const stream = (id: number): { id: number } => ({ id });

describe('OpenStreams', () => {
  it('finds every open stream by id as streams close from anywhere', () => {
    const t = new OpenStreams<{ id: number }>();
    const streams = Array.from({ length: 50 }, (_, i) => stream(2 * i + 1));
    for (const s of streams) t.add(s);
    for (const s of streams) expect(t.get(s.id)).toBe(s);
    expect(t.get(2)).toBeUndefined();
    expect(t.get(101)).toBeUndefined();
    const closed = streams.filter((_, i) => i % 3 === 0);
    for (const s of closed) expect(t.delete(s)).toBe(true);
    expect(t.size).toBe(50 - closed.length);
    for (const s of streams) expect(t.get(s.id)).toBe(closed.includes(s) ? undefined : s);
    expect(t.snapshot().map((s) => s.id)).toEqual(streams.filter((s) => !closed.includes(s)).map((s) => s.id));
    t.add(stream(201));
    expect(t.get(201)?.id).toBe(201);
  });

  it('removes only the very stream given, and refuses an id at or below the last one', () => {
    const t = new OpenStreams<{ id: number }>();
    const s = stream(5);
    t.add(s);
    expect(t.delete(stream(5))).toBe(false);
    expect(t.get(5)).toBe(s);
    expect(() => t.add(stream(5))).toThrow(/stream 5 opened after stream 5/);
    expect(() => t.add(stream(3))).toThrow(/stream 3 opened after stream 5/);
    expect(t.delete(s)).toBe(true);
    expect(t.delete(s)).toBe(false);
    t.add(stream(3));
    t.clear();
    expect(t.size).toBe(0);
  });
});
