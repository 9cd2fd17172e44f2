// Shared work and its callers: it stops only when the last caller has gone; a caller who leaves is
// answered at once while the work goes on for the others.
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../lib/errors.js';
import { abandonable, cancelledError, SharedAbort } from './cancellation.js';

describe('SharedAbort', () => {
  it('aborts only when every caller that joined has aborted', () => {
    const shared = new SharedAbort();
    const a = new AbortController();
    const b = new AbortController();
    shared.join(a.signal);
    shared.join(b.signal);
    a.abort();
    expect(shared.signal.aborted).toBe(false);
    b.abort();
    expect(shared.signal.aborted).toBe(true);
  });

  it('never aborts while a caller without a signal (an internal pull) shares the work', () => {
    const shared = new SharedAbort();
    const a = new AbortController();
    shared.join(a.signal);
    shared.join(undefined);
    a.abort();
    expect(shared.signal.aborted).toBe(false);
  });

  it('counts a caller that was already gone when it joined', () => {
    const shared = new SharedAbort();
    shared.join(AbortSignal.abort());
    expect(shared.signal.aborted).toBe(true);
  });

  it('stops listening to its callers once disposed (the work has settled)', () => {
    const shared = new SharedAbort();
    const a = new AbortController();
    shared.join(a.signal);
    shared.dispose();
    a.abort();
    expect(shared.signal.aborted).toBe(false);
  });
});

describe('abandonable', () => {
  it('answers a caller that leaves at once, with the cancel error, while the work goes on', async () => {
    let finish!: (v: string) => void;
    const work = new Promise<string>((r) => (finish = r));
    const a = new AbortController();
    const left = abandonable(work, a.signal, () => cancelledError('pull of image "x"'));
    const stays = abandonable(work, new AbortController().signal, () => cancelledError('pull of image "x"'));
    a.abort();
    await expect(left).rejects.toThrow(UnavailableError);
    await expect(left).rejects.toThrow('pull of image "x": cancelled, every caller went away');
    finish('image');
    await expect(stays).resolves.toBe('image');
  });

  it('passes the work through untouched without a signal', async () => {
    await expect(abandonable(Promise.resolve(1), undefined, () => new Error('never'))).resolves.toBe(1);
  });
});
