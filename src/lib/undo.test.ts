import { describe, expect, it } from 'vitest';
import { silentLogger } from './log.js';
import { describeLeftovers, rollback, type Undo } from './undo.js';

describe('rollback', () => {
  it('undoes the steps newest first and keeps going past a failing one', async () => {
    const done: string[] = [];
    const undo: Undo[] = [
      { what: 'dir', run: async () => done.push('dir') },
      { what: 'mount', run: () => Promise.reject(new Error('busy')) },
      { what: 'process', run: async () => done.push('process') },
    ];
    const r = await rollback(undo, silentLogger(), 'CreateContainer');
    expect(done).toEqual(['process', 'dir']);
    expect(undo.map((u) => u.what)).toEqual(['dir', 'mount', 'process']);
    expect(r).toEqual({ failed: [{ what: 'mount', error: 'busy' }], skipped: [] });
  });

  it('skips a step that waits for a failed one, and what waits for the skipped step', async () => {
    const done: string[] = [];
    const undo: Undo[] = [
      { what: 'record dir', run: async () => done.push('record dir'), after: 'all' },
      { what: 'pin dir', run: async () => done.push('pin dir'), after: ['netns'] },
      { what: 'netns', run: async () => done.push('netns'), after: ['CNI DEL'] },
      { what: 'CNI DEL', run: () => Promise.reject(new Error('plugin failed')) },
      { what: 'shm', run: async () => done.push('shm') },
    ];
    const r = await rollback(undo, silentLogger(), 'RunPodSandbox');
    expect(done).toEqual(['shm']);
    expect(r.failed).toEqual([{ what: 'CNI DEL', error: 'plugin failed' }]);
    expect(r.skipped).toEqual(['netns', 'pin dir', 'record dir']);
    expect(describeLeftovers(r)).toBe('CNI DEL: plugin failed; not attempted: netns, pin dir, record dir');
  });

  it('runs every step when nothing fails, including those that wait for all', async () => {
    const done: string[] = [];
    const r = await rollback(
      [
        { what: 'a', run: async () => done.push('a'), after: 'all' },
        { what: 'b', run: async () => done.push('b'), after: ['c'] },
        { what: 'c', run: async () => done.push('c') },
      ],
      silentLogger(),
      'X',
    );
    expect(done).toEqual(['c', 'b', 'a']);
    expect(r).toEqual({ failed: [], skipped: [] });
  });
});
