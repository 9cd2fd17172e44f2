// What the daemon does to itself once per quiet spell (src/lib/page-reclaim.ts): a full GC soon
// after work, its cold file pages back to the kernel after a long spell. Each run logged at debug
// with what it gave back, a failure once at warn (that task then stops for good).
import { readFileSync } from 'node:fs';
import type { Logger } from '../lib/log.js';
import { IdleReclaimer, pageOut } from '../lib/page-reclaim.js';
import { nativeHelperIfBuilt } from '../lib/native-helpers.js';

function rssFileKiB(): number {
  const m = /^RssFile:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Undefined when off (0 seconds) or when the helper is not built. */
export function startPageReclaim(idleSeconds: number, log: Logger, helper = nativeHelperIfBuilt('nexcage-pageout')): IdleReclaimer | undefined {
  if (!helper) {
    if (idleSeconds > 0) log.debug('nexcage-pageout is not built: cold file pages stay resident');
    return undefined;
  }
  return onQuietSpell(idleSeconds, log, 'handing cold file pages back to the kernel failed; not trying again', async () => {
    const before = rssFileKiB();
    await pageOut(process.pid, helper);
    log.debug({ fileMiBBefore: Math.round(before / 102.4) / 10, fileMiBAfter: Math.round(rssFileKiB() / 102.4) / 10 }, 'cold file pages handed back to the kernel');
  });
}

/**
 * A full GC of the JavaScript heap once per quiet spell, `idleSeconds` after the last piece of work
 * (polls do not count): pod starts, pulls and removals leave garbage in the old generation, and
 * collected then, before the kubelet's polls meet it, it does not end in a 3-10 ms pause in the
 * middle of them. Needs V8's gc() (--expose-gc, in deploy/node-flags); off without it. Undefined
 * when off.
 */
export function startIdleGc(idleSeconds: number, log: Logger, gc = exposedGc()): IdleReclaimer | undefined {
  if (!gc) {
    if (idleSeconds > 0) log.debug('gc() is not exposed (node --expose-gc): the garbage of work is collected when V8 decides');
    return undefined;
  }
  return onQuietSpell(idleSeconds, log, 'collecting the heap after work failed; not trying again', async () => {
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    gc();
    log.debug({ pauseMs: Math.round((performance.now() - t0) * 10) / 10, heapMiBBefore: Math.round(before / 104857.6) / 10, heapMiBAfter: Math.round(process.memoryUsage().heapUsed / 104857.6) / 10 }, 'heap garbage collected after work');
  });
}

/** `task` once per quiet spell of `idleSeconds` (undefined when 0); its first failure, logged, ends it. */
function onQuietSpell(idleSeconds: number, log: Logger, failure: string, task: () => Promise<void>): IdleReclaimer | undefined {
  if (idleSeconds <= 0) return undefined;
  return new IdleReclaimer({ idleMs: idleSeconds * 1000, reclaim: task, onFailure: (err) => log.warn({ err }, failure) });
}

function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? () => void (gc as () => unknown)() : undefined;
}
