// Stopping a pull when the callers waiting for it go away (a PullImage whose gRPC caller cancelled
// or passed its deadline). Pulls and blob downloads are shared by concurrent callers, so the work
// itself stops only when every caller has gone; each caller that leaves is answered at once.
import { setMaxListeners } from 'node:events';
import { UnavailableError } from '../lib/errors.js';

export function cancelledError(what: string): UnavailableError {
  return new UnavailableError(`${what}: cancelled, every caller went away`);
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw cancelledError(what);
}

/**
 * The abort signal of work shared by several callers: it fires once every caller that joined has
 * aborted. A caller without a signal (an internal pull) keeps the work going to the end.
 */
export class SharedAbort {
  private readonly controller = new AbortController();
  private callers = 0;
  private pinned = false;
  private readonly unlisten: (() => void)[] = [];

  constructor() {
    // One listener per request, layer and caller: not a leak, however many layers an image has.
    setMaxListeners(0, this.controller.signal);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  join(signal: AbortSignal | undefined): void {
    if (!signal) {
      this.pinned = true;
      return;
    }
    this.callers++;
    if (signal.aborted) return this.leave();
    const onAbort = (): void => this.leave();
    signal.addEventListener('abort', onAbort, { once: true });
    this.unlisten.push(() => signal.removeEventListener('abort', onAbort));
  }

  /** The work has settled: stop listening to the callers' signals. */
  dispose(): void {
    for (const u of this.unlisten.splice(0)) u();
  }

  private leave(): void {
    this.callers--;
    if (this.callers === 0 && !this.pinned) this.controller.abort();
  }
}

/** `work`'s outcome, or the error of `onAbort` as soon as `signal` aborts (the work goes on). */
export function abandonable<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort: () => Error): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort());
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    void work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** Wait `ms`, or less when `signal` aborts (the caller checks which). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
