// The undo stack of a multi-step operation (RunPodSandbox, CreateContainer): each finished step
// registers how to take it back; on failure the steps are undone newest first, and a failing undo
// is logged without hiding the original error.
import type { Logger } from './log.js';

export interface Undo {
  what: string;
  run: () => Promise<unknown>;
}

export async function rollback(undo: Undo[], log: Logger, operation: string): Promise<void> {
  for (const u of [...undo].reverse()) {
    try {
      await u.run();
    } catch (e) {
      log.error({ err: e, step: u.what }, `undo of ${operation} step failed`);
    }
  }
}
