// Call deadlines on one timer. Every client call carries a grpc-timeout, a different number of ms
// each time (the time left to the caller's deadline), and Node keeps a timer list per distinct
// duration: a timer per call made a Timeout and a list each, for calls that end in a millisecond.
// Here the timer is set for the earliest deadline only; a call that ends leaves the set (a SlotSet:
// calls come and go all the time, and a long-lived Set would leave old-generation garbage each time).

import { SlotSet } from '../slot-set.js';

export interface HasDeadline {
  /** When the call's deadline passes (ms, Date.now() clock). */
  readonly deadlineAt: number;
  /** Its index in the queue (NO_SLOT from ../slot-set.js while out of it). */
  deadlineSlot: number;
  deadlinePassed(): void;
}

export class Deadlines<T extends HasDeadline> {
  private readonly calls = new SlotSet<'deadlineSlot', T>('deadlineSlot');
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires; Infinity while none is set. */
  private timerAt = Infinity;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.calls.size;
  }

  add(call: T): void {
    this.calls.add(call);
    if (call.deadlineAt < this.timerAt) this.arm(call.deadlineAt);
  }

  /**
   * The call ended: its deadline no longer matters. The timer stays, even with no call left: it
   * finds nothing due and sets no other. Clearing it would mean a timer per call for calls made one
   * after another, and each distinct duration is a list of Node's own that comes and goes with it.
   */
  delete(call: T): void {
    this.calls.delete(call);
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(fire, Math.max(0, at - this.now()), this);
    // A deadline of a call in flight does not keep the process alive: the call's socket does.
    this.timer.unref();
  }

  expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const due: T[] = [];
    let next = Infinity;
    for (const c of this.calls.snapshot()) {
      if (c.deadlineAt <= now) due.push(c);
      else if (c.deadlineAt < next) next = c.deadlineAt;
    }
    for (const c of due) this.calls.delete(c);
    if (next !== Infinity) this.arm(next);
    for (const c of due) c.deadlinePassed();
  }
}

/** The timer's callback: one function for every queue, no closure per arming. */
function fire(q: Deadlines<HasDeadline>): void {
  q.expire();
}
