// What checkpoints and restores share: whether this node can do them (CRIU usable, a runtime that
// checkpoints), the CRIU flags both sides must agree on, and where their work dirs live.
import { join } from 'node:path';
import { FailedPreconditionError } from '../../lib/errors.js';
import type { CheckpointSupport } from '../engine/criu.js';
import type { OciRuntime } from '../engine/oci-runtime.js';
import type { ContainerManagerOptions } from './container-deps.js';

/**
 * Established TCP connections and file locks are dumped rather than refused; a restore passes the
 * same flags (a connection whose address the new pod lacks then fails the restore, named by CRIU).
 */
export const CRIU_FLAGS = { tcpEstablished: true, fileLocks: true } as const;

export function criuRestoreOpts(): string[] {
  return [...(CRIU_FLAGS.tcpEstablished ? ['--tcp-established'] : []), ...(CRIU_FLAGS.fileLocks ? ['--file-locks'] : [])];
}

/** Work dirs of checkpoints in progress and archives being read; emptied at daemon start. */
export function checkpointsDir(o: Pick<ContainerManagerOptions, 'rootDir'>): string {
  return join(o.rootDir, 'checkpoints');
}

/** The usable CRIU; FAILED_PRECONDITION naming why when this node cannot `what` with `runtime`. */
export async function requireCheckpointSupport(o: Pick<ContainerManagerOptions, 'checkpoint'>, runtime: OciRuntime, what: string): Promise<CheckpointSupport> {
  if (!o.checkpoint) throw new FailedPreconditionError(`cannot ${what}: checkpoint/restore is not configured`);
  const support = await o.checkpoint.criu.support();
  if (!support.available) throw new FailedPreconditionError(`cannot ${what}: checkpointing is not available on this node: ${support.reason}`);
  if (!runtime.checkpointArgs) throw new FailedPreconditionError(`cannot ${what}: runtime handler "${runtime.handler}" cannot checkpoint`);
  return support;
}
