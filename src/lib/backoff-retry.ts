// Background retries with exponential backoff, one chain per key: `schedule(key, attempt)` runs
// `attempt` after the first delay, then after twice that, ... up to `maxMs`, until it returns true
// (done) or the key is cancelled. Used for cleanup that failed once (a CNI DEL, an unmount) and
// must not wait for the next daemon restart. Timers never keep the process alive.
import type { Logger } from './log.js';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  log: Logger;
}

export class BackoffRetry {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly o: BackoffOptions) {}

  /** Start (or restart, from the first delay) the retry chain for `key`. */
  schedule(key: string, attempt: () => Promise<boolean>): void {
    this.cancel(key);
    this.arm(key, attempt, this.o.initialMs);
  }

  cancel(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  has(key: string): boolean {
    return this.timers.has(key);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private arm(key: string, attempt: () => Promise<boolean>, delayMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      void (async () => {
        let done = false;
        try {
          done = await attempt();
        } catch (err) {
          this.o.log.warn({ err, key, nextInMs: Math.min(delayMs * 2, this.o.maxMs) }, 'background retry failed; trying again later');
        }
        // Cancelled (or rescheduled) while the attempt ran: that chain owns the key now.
        if (this.timers.get(key) !== timer) return;
        this.timers.delete(key);
        if (!done) this.arm(key, attempt, Math.min(delayMs * 2, this.o.maxMs));
      })();
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
  }
}
