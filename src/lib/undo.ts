// The undo stack of a multi-step operation (RunPodSandbox, CreateContainer): each finished step
// registers how to take it back; on failure the steps are undone newest first. A failing undo never
// hides the original error, and it is not forgotten either: rollback reports it, so the caller can
// keep the object (and what is left of it) for a later retry instead of dropping it. A step that
// must not run once another failed (removing a netns whose CNI DEL failed, the record dir of an
// object that is kept) names them in `after`.
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

export interface Undo {
  what: string;
  run: () => Promise<unknown>;
  /** Run only if these steps (or, with 'all', every other step) were undone without error. */
  after?: readonly string[] | 'all';
}

export interface RollbackResult {
  /** Steps whose undo threw, newest first, with the error text. */
  failed: { what: string; error: string }[];
  /** Steps not run because a step they wait for failed. */
  skipped: string[];
}

export async function rollback(undo: readonly Undo[], log: Logger, operation: string): Promise<RollbackResult> {
  const result: RollbackResult = { failed: [], skipped: [] };
  const failedNames = new Set<string>();
  for (const u of [...undo].reverse()) {
    const blocked = u.after === 'all' ? failedNames.size > 0 : (u.after ?? []).some((w) => failedNames.has(w));
    if (blocked) {
      result.skipped.push(u.what);
      failedNames.add(u.what); // what waits for this step waits for it too
      continue;
    }
    try {
      await u.run();
    } catch (e) {
      log.error({ err: e, step: u.what }, `undo of ${operation} step failed`);
      result.failed.push({ what: u.what, error: errorMessage(e) });
      failedNames.add(u.what);
    }
  }
  return result;
}

/** One line for a record's reason: which undo steps failed and why. */
export function describeLeftovers(r: RollbackResult): string {
  const parts = r.failed.map((f) => `${f.what}: ${f.error}`);
  if (r.skipped.length > 0) parts.push(`not attempted: ${r.skipped.join(', ')}`);
  return parts.join('; ');
}
