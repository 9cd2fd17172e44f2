// The daemon's idle page reclaim (src/lib/page-reclaim.ts) on itself, logged: each reclaim at
// debug with what it gave back, a failure once at warn (reclaiming then stops for good).
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
  if (idleSeconds <= 0) return undefined;
  if (!helper) {
    log.debug('nexcage-pageout is not built: cold file pages stay resident');
    return undefined;
  }
  return new IdleReclaimer({
    idleMs: idleSeconds * 1000,
    reclaim: async () => {
      const before = rssFileKiB();
      await pageOut(process.pid, helper);
      log.debug({ fileMiBBefore: Math.round(before / 102.4) / 10, fileMiBAfter: Math.round(rssFileKiB() / 102.4) / 10 }, 'cold file pages handed back to the kernel');
    },
    onFailure: (err) => log.warn({ err }, 'handing cold file pages back to the kernel failed; not trying again'),
  });
}
