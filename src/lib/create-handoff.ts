// Creations that outlive their caller, handed to the caller's identical retry (as CRI-O's
// resourcestore does). The kubelet gives RunPodSandbox and CreateContainer a deadline and, when it
// passes, sends the same request again; failing that retry with "name reserved" while the first
// call is still building (or has just built) the object wastes the work and, under load, never
// converges. So a creation whose caller went away keeps going; when it finishes with no caller left
// it is held (not yet visible) for `holdMs`, and an identical retry (same key and fingerprint) gets
// it: joined while in flight, claimed once held. Unclaimed, it is undone completely by `expire`.
import { DeadlineExceededError } from './errors.js';
import type { Logger } from './log.js';

export interface HandoffOptions<T> {
  /** How long a finished creation nobody waits for is kept for a retry. */
  holdMs: number;
  /** The result reached a caller that is still there: make it visible. Called once per result. */
  deliver(result: T): void;
  /** Nobody claimed the held result in time: undo it. */
  expire(result: T): Promise<void>;
  log: Logger;
  /** For messages: "RunPodSandbox", "CreateContainer". */
  operation: string;
}

interface Entry<T> {
  fingerprint: string;
  promise: Promise<T>;
  waiters: Set<AbortSignal | undefined>;
  held?: { result: T; timer: NodeJS.Timeout };
}

export class CreateHandoff<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly o: HandoffOptions<T>) {}

  /** The fingerprint of the creation in flight or held under `key`, if any. */
  fingerprintOf(key: string): string | undefined {
    return this.entries.get(key)?.fingerprint;
  }

  /**
   * Whether the creation under `key` has no caller left (held, or every waiter gone): only then is
   * it a retry's to join. While its first caller still waits, an identical request is a duplicate.
   */
  abandoned(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    return e.held !== undefined || [...e.waiters].every((w) => w?.aborted === true);
  }

  /** Whether a finished result is waiting for a retry under `key`. */
  isHeld(key: string): boolean {
    return this.entries.get(key)?.held !== undefined;
  }

  /** Run the creation for `key`; resolves for the caller unless its `signal` fired first. */
  run(key: string, fingerprint: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const entry = { fingerprint, waiters: new Set<AbortSignal | undefined>() } as Entry<T>;
    this.entries.set(key, entry);
    entry.promise = work().then(
      (result) => {
        // Decided in the same tick the work ends: a caller still waiting gets it, visible at once.
        if ([...entry.waiters].some((w) => !w?.aborted)) {
          this.entries.delete(key);
          this.o.deliver(result);
        } else {
          const timer = setTimeout(() => void this.expireHeld(key, entry), this.o.holdMs);
          timer.unref();
          entry.held = { result, timer };
          this.o.log.info({ key, holdMs: this.o.holdMs }, `${this.o.operation} finished after its caller went away; kept for an identical retry`);
        }
        return result;
      },
      (err: unknown) => {
        this.entries.delete(key);
        throw err;
      },
    );
    // Nobody may be waiting when the work fails: the rejection is the waiters' to see, not unhandled.
    entry.promise.catch(() => undefined);
    return this.wait(entry, signal);
  }

  /** Join the creation under `key` (the caller compared the fingerprint): claim it if held. */
  join(key: string, signal: AbortSignal | undefined): Promise<T> {
    const entry = this.entries.get(key);
    if (!entry) return Promise.reject(new Error(`no ${this.o.operation} in flight for ${key}`));
    if (entry.held) {
      clearTimeout(entry.held.timer);
      this.entries.delete(key);
      this.o.log.info({ key }, `${this.o.operation}: handing the finished creation to the identical retry`);
      this.o.deliver(entry.held.result);
      return Promise.resolve(entry.held.result);
    }
    this.o.log.info({ key }, `${this.o.operation}: an identical request joins the creation in flight`);
    return this.wait(entry, signal);
  }

  /** The held result under `key` was removed by other means (its pod went): nothing to hand over. */
  discard(key: string): void {
    const e = this.entries.get(key);
    if (!e?.held) return;
    clearTimeout(e.held.timer);
    this.entries.delete(key);
  }

  /** Shutdown: held results stay as they are (persisted, visible after a restart). */
  close(): void {
    for (const e of this.entries.values()) if (e.held) clearTimeout(e.held.timer);
  }

  private wait(entry: Entry<T>, signal: AbortSignal | undefined): Promise<T> {
    if (signal?.aborted) return Promise.reject(this.gone());
    entry.waiters.add(signal);
    if (!signal) return entry.promise;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        entry.waiters.delete(signal);
        reject(this.gone());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err as Error);
        },
      );
    });
  }

  private async expireHeld(key: string, entry: Entry<T>): Promise<void> {
    if (this.entries.get(key) !== entry || !entry.held) return;
    this.entries.delete(key);
    this.o.log.warn({ key }, `${this.o.operation}: no retry claimed the creation its caller gave up on; undoing it`);
    await this.o.expire(entry.held.result).catch((err: unknown) => this.o.log.error({ err, key }, `${this.o.operation}: undoing an unclaimed creation failed`));
  }

  /** A caller already gone before anything was reserved or built: nothing is started for it. */
  throwIfGone(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new DeadlineExceededError(`${this.o.operation}: the caller went away before the work started; nothing was done`);
  }

  private gone(): Error {
    return new DeadlineExceededError(`${this.o.operation}: the caller went away; the work goes on and is handed to an identical retry`);
  }
}

/** A stable text of a request (object keys sorted) to tell an identical retry from another request. */
export function fingerprint(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}
