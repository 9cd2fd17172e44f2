// Memory of a process as an operator sees it: RSS (what `ps` and most dashboards show, file pages
// of the binary included), its anonymous/file split, and PSS (shared pages divided among their
// users, the fair figure for many small helpers such as conmon or containerd's shims).
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcMem {
  rss: number;
  anon: number;
  file: number;
  pss: number;
}

const MiB = 1024;

function kB(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** MiB figures of `pid`, NaN when it is gone. */
export function procMem(pid: number): ProcMem {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rss: kB(status, 'VmRSS') / MiB, anon: kB(status, 'RssAnon') / MiB, file: kB(status, 'RssFile') / MiB, pss: kB(rollup, 'Pss') / MiB };
  } catch {
    return { rss: NaN, anon: NaN, file: NaN, pss: NaN };
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Pids whose command line passes `match` (e.g. conmon naming a daemon's state dir). */
export function pidsWhere(match: (cmd: string) => boolean): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => pid !== process.pid && match(cmdline(pid)));
}

/** Sum of PSS (MiB) over `pids`. */
export function pssSum(pids: number[]): number {
  return pids.map((p) => procMem(p).pss).filter((x) => !Number.isNaN(x)).reduce((a, b) => a + b, 0);
}

/** Samples RSS of `pid` every `everyMs` until stopped; returns the peak (MiB). */
export function peakSampler(pid: number, everyMs = 20): { stop(): number } {
  let peak = procMem(pid).rss;
  const t = setInterval(() => {
    const r = procMem(pid).rss;
    if (r > peak) peak = r;
  }, everyMs);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, procMem(pid).rss || 0);
    },
  };
}
