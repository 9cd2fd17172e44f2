// What sandboxes and containers share about their OCI runtimes: the runtime of a handler when it
// can run (recovery and cleanup must go on when a handler's binary vanished), and the sweep of
// runtime containers no record owns, told apart by where their bundle lives.
import type { Logger } from '../../lib/log.js';
import type { OciRuntime } from './oci-runtime.js';
import type { RuntimeHandlers } from './runtime-handlers.js';

export type RuntimeFor = (handler: string) => OciRuntime;

/** The runtime of `handler`, or undefined when it is not configured or its binary is missing. */
export function runtimeOrUndefined(runtimeFor: RuntimeFor, handler: string): OciRuntime | undefined {
  try {
    return runtimeFor(handler);
  } catch {
    return undefined;
  }
}

export interface OrphanSweep {
  handlers: Pick<RuntimeHandlers, 'list'>;
  runtimeFor: RuntimeFor;
  /** Only containers whose bundle is under this dir are ours to judge. */
  bundlesDir: string;
  known(id: string): boolean;
  log: Logger;
  /** Log field naming the id ("podSandboxId", "containerId") and what it is ("infra container", "container"). */
  idField: string;
  what: string;
  /** After the delete (e.g. the monitor's files). */
  afterDelete?(id: string): Promise<void>;
}

/** Force-delete every runtime container under `bundlesDir` that no record owns; returns their ids. */
export async function sweepRuntimeOrphans(o: OrphanSweep): Promise<string[]> {
  const swept: string[] = [];
  for (const h of o.handlers.list()) {
    const runtime = runtimeOrUndefined(o.runtimeFor, h.name);
    if (!runtime) continue;
    for (const st of await runtime.list().catch(() => [])) {
      if (o.known(st.id) || !st.bundle.startsWith(o.bundlesDir + '/')) continue;
      o.log.warn({ [o.idField]: st.id, status: st.status }, `orphan ${o.what}: deleting`);
      await runtime.delete(st.id, { force: true }).catch((err: unknown) => o.log.warn({ err, [o.idField]: st.id }, 'orphan delete failed'));
      await o.afterDelete?.(st.id);
      swept.push(st.id);
    }
  }
  return swept;
}
