// Gives the daemon's cold file pages back to the kernel once it has been quiet. Most of the
// daemon's resident memory is the Node binary it maps (52 of 77 MiB after start): start-up code,
// the embedded snapshot and the code of pulls, pod starts and streams are touched in bursts and
// then only held. The kernel drops such pages only under memory pressure, so a node's
// system-reserved has to cover them. After `idleMs` without work (polls do not count: the kubelet
// sends them every second and they touch little), native/nexcage-pageout pages out the daemon's
// read-only file mappings; what is used again is read back on first touch, which costs the next
// calls a few ms once, hence once per quiet spell and only after a long one.
import { run } from './exec.js';

export interface ReclaimResult {
  /** Bytes of mappings advised (mapped, not resident: what was resident is in the RSS change). */
  advisedBytes: number;
}

/** Page out `pid`'s read-only file mappings through `helper` (nexcage-pageout); throws when it cannot. */
export async function pageOut(pid: number, helper: string | undefined): Promise<ReclaimResult> {
  if (!helper) throw new Error('nexcage-pageout is not built');
  const res = await run(helper, [String(pid)], { timeoutMs: 10_000 });
  const m = /^advised (\d+) /.exec(res.stdout);
  return { advisedBytes: m ? Number(m[1]) : 0 };
}

export interface IdleReclaimOptions {
  /** Quiet time after the last piece of work before reclaiming (ms). */
  idleMs: number;
  /** How often to look (ms); defaults to a quarter of idleMs, at most 5 s. */
  everyMs?: number;
  reclaim: () => Promise<void>;
  /** The first failure ends reclaiming (a kernel without process_madvise, no CAP_SYS_NICE). */
  onFailure: (err: unknown) => void;
  now?: () => number;
}

/**
 * Counts work in flight and remembers when the last piece ended. Reclaims once per quiet spell:
 * a daemon that only serves polls is not reclaimed again and again (each reclaim costs the next
 * calls a few ms of page faults). Start-up counts as work, so the first reclaim follows it.
 */
export class IdleReclaimer {
  private inFlight = 0;
  private lastWorkEnd: number;
  private pending = true;
  private running = false;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly o: IdleReclaimOptions) {
    this.now = o.now ?? (() => performance.now());
    this.lastWorkEnd = this.now();
    this.timer = setInterval(() => void this.check(), o.everyMs ?? Math.min(5000, Math.max(250, o.idleMs / 4)));
    this.timer.unref();
  }

  begin(): void {
    this.inFlight++;
    this.pending = true;
  }

  end(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.lastWorkEnd = this.now();
  }

  /** Whether a reclaim is due now (exposed for tests; the timer calls check()). */
  due(): boolean {
    return !this.stopped && !this.running && this.pending && this.inFlight === 0 && this.now() - this.lastWorkEnd >= this.o.idleMs;
  }

  async check(): Promise<void> {
    if (!this.due()) return;
    this.running = true;
    this.pending = false;
    try {
      await this.o.reclaim();
    } catch (err) {
      this.stop();
      this.o.onFailure(err);
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}

/** What the CRI handler tells about work: each call that is work begins and ends once. */
export interface Activity {
  begin(): void;
  end(): void;
}

/** One Activity telling every quiet-spell watcher that is on (undefined ones are off). */
export function activityOf(watchers: (Activity | undefined)[]): Activity | undefined {
  const on = watchers.filter((w): w is Activity => w !== undefined);
  if (on.length <= 1) return on[0];
  return {
    begin: () => on.forEach((w) => w.begin()),
    end: () => on.forEach((w) => w.end()),
  };
}
