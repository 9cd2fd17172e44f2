// Call deadlines on one timer. Every client call carries a grpc-timeout, a different number of ms
// each time (the time left to the caller's deadline), and Node keeps a timer list per distinct
// duration: a timer per call made a Timeout and a list each, for calls that end in a millisecond.
// Here the timer is set for the earliest deadline only; a call that ends leaves the set.

export interface HasDeadline {
  /** When the call's deadline passes (ms, Date.now() clock). */
  readonly deadlineAt: number;
  deadlinePassed(): void;
}

export class Deadlines<T extends HasDeadline> {
  private readonly calls = new Set<T>();
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

  /** The call ended: its deadline no longer matters (the timer stays; it finds nothing due). */
  delete(call: T): void {
    this.calls.delete(call);
    if (this.calls.size === 0) this.disarm();
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(fire, Math.max(0, at - this.now()), this);
    // A deadline of a call in flight does not keep the process alive: the call's socket does.
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const due: T[] = [];
    let next = Infinity;
    for (const c of this.calls) {
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
