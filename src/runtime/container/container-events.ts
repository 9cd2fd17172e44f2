// The container event bus behind GetContainerEvents: every subscriber gets every event in the
// order published. A subscriber that does not keep up (its queue over the cap) is dropped rather
// than letting the daemon's memory grow; the gRPC layer then ends its stream with an error.
import type { ContainerEvent } from './container-record.js';

export interface EventSubscription {
  /** Next event; undefined once closed. */
  next(signal: AbortSignal): Promise<ContainerEvent | undefined>;
  /** True when dropped for falling behind. */
  readonly overflowed: boolean;
  close(): void;
}

const MAX_QUEUE = 10_000;

class Subscriber implements EventSubscription {
  readonly queue: ContainerEvent[] = [];
  overflowed = false;
  closed = false;
  private wake: (() => void) | undefined;

  constructor(private readonly onClose: (s: Subscriber) => void) {}

  push(e: ContainerEvent): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUE) {
      this.overflowed = true;
      this.close();
      return;
    }
    this.queue.push(e);
    this.wake?.();
  }

  async next(signal: AbortSignal): Promise<ContainerEvent | undefined> {
    for (;;) {
      const e = this.queue.shift();
      if (e) return e;
      if (this.closed || signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.wake = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done);
      });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    this.wake?.();
  }
}

export class ContainerEventBus {
  private readonly subscribers = new Set<Subscriber>();
  private readonly observers = new Set<(e: ContainerEvent) => void>();

  /**
   * Calls `fn` with every event as it is published, synchronously, for the daemon's own caches
   * (no queue, no cap). `fn` runs inside the publisher's work: it must be quick and never throw.
   */
  observe(fn: (e: ContainerEvent) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  subscribe(): EventSubscription {
    const s = new Subscriber((x) => this.subscribers.delete(x));
    this.subscribers.add(s);
    return s;
  }

  publish(e: ContainerEvent): void {
    for (const fn of this.observers) fn(e);
    for (const s of [...this.subscribers]) s.push(e);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}
