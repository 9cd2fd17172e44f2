// Pauses from V8's --trace-gc lines ("... 1234 ms: Scavenge 4.9 (6.0) -> 4.5 (7.0) MB, pooled: 0 MB,
// 2.46 / 0.00 ms ..."; with --optimize-for-size "Mark-Compact (reduce) ..."): the first figure after
// the sizes is the main-thread pause. With --trace-gc-nvp V8 prints name=value lines instead
// ("... 1234 ms: pause=3.3 mutator=... gc=mc reduce_memory=1 ... clear=2 evacuate=1.5 ..."): those
// also give the pause's split into phases, which says what a flag would have to shorten.
export interface GcPause {
  atMs: number;
  kind: string;
  ms: number;
  /** Main-thread phases of the pause (ms), from --trace-gc-nvp only. */
  phases?: Record<string, number>;
}

const NVP_KINDS: Record<string, string> = { s: 'Scavenge', mc: 'Mark-Compact', mms: 'Minor Mark-Sweep' };
/** Top-level phases of a full GC's atomic pause in the nvp line (the dotted names are their parts). */
const NVP_PHASES = ['mark', 'clear', 'evacuate', 'finish', 'sweep', 'heap.prologue', 'heap.epilogue', 'heap.external.prologue', 'heap.external.epilogue', 'heap.external.weak_global_handles'];

export function gcPauses(trace: string): GcPause[] {
  const out: GcPause[] = [];
  for (const m of trace.matchAll(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: ([A-Za-z -]+?(?: \([a-z ]+\))?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB,(?: pooled: [\d.]+ MB,)? ([\d.]+) \/ [\d.]+ ms/gm)) {
    out.push({ atMs: Number(m[1]), kind: (m[2] as string).trim(), ms: Number(m[3]) });
  }
  for (const m of trace.matchAll(/^\[\d+:0x[0-9a-f]+(?::\d+)?\]\s+(\d+) ms: (pause=.*)$/gm)) {
    const fields = new Map((m[2] as string).split(' ').map((kv) => kv.split('=') as [string, string]));
    const gc = fields.get('gc') ?? '';
    const kind = (NVP_KINDS[gc] ?? gc) + (gc === 'mc' && fields.get('reduce_memory') === '1' ? ' (reduce)' : '');
    const phases: Record<string, number> = {};
    for (const p of NVP_PHASES) if (Number(fields.get(p)) > 0) phases[p] = Number(fields.get(p));
    out.push({ atMs: Number(m[1]), kind, ms: Number(fields.get('pause')), phases });
    // The longest incremental marking step of that cycle: a main-thread pause of its own.
    const step = Number(fields.get('incremental_longest_step'));
    if (step > 0) out.push({ atMs: Number(m[1]), kind: 'marking step', ms: step });
  }
  // Incremental marking runs in steps on the main thread too: the biggest one is a pause.
  for (const m of trace.matchAll(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: .*biggest step ([\d.]+) ms/gm)) out.push({ atMs: Number(m[1]), kind: 'marking step', ms: Number(m[2]) });
  return out.sort((a, b) => a.atMs - b.atMs);
}
