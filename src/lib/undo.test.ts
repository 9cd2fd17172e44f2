import { describe, expect, it } from 'vitest';
import { silentLogger } from './log.js';
import { rollback, type Undo } from './undo.js';

describe('rollback', () => {
  it('undoes the steps newest first and keeps going past a failing one', async () => {
    const done: string[] = [];
    const undo: Undo[] = [
      { what: 'dir', run: async () => done.push('dir') },
      { what: 'mount', run: () => Promise.reject(new Error('busy')) },
      { what: 'process', run: async () => done.push('process') },
    ];
    await rollback(undo, silentLogger(), 'CreateContainer');
    expect(done).toEqual(['process', 'dir']);
    expect(undo.map((u) => u.what)).toEqual(['dir', 'mount', 'process']);
  });
});
