// Pauses from V8's --trace-gc lines ("... 1234 ms: Scavenge 4.9 (6.0) -> 4.5 (7.0) MB, pooled: 0 MB,
// 2.46 / 0.00 ms ..."; with --optimize-for-size "Mark-Compact (reduce) ..."): the first figure after
// the sizes is the main-thread pause.
export interface GcPause {
  atMs: number;
  kind: string;
  ms: number;
}

export function gcPauses(trace: string): GcPause[] {
  const out: GcPause[] = [];
  for (const m of trace.matchAll(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: ([A-Za-z -]+?(?: \([a-z ]+\))?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB,(?: pooled: [\d.]+ MB,)? ([\d.]+) \/ [\d.]+ ms/gm)) {
    out.push({ atMs: Number(m[1]), kind: (m[2] as string).trim(), ms: Number(m[3]) });
  }
  // Incremental marking runs in steps on the main thread too: the biggest one is a pause.
  for (const m of trace.matchAll(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: .*biggest step ([\d.]+) ms/gm)) out.push({ atMs: Number(m[1]), kind: 'marking step', ms: Number(m[2]) });
  return out;
}
