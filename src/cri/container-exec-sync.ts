import { InvalidArgumentError } from '../lib/errors.js';
import type { ExecSyncRequest__Output } from './generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from './generated/runtime/v1/ExecSyncResponse.js';
import { MAX_MESSAGE_BYTES } from './grpc/proto.js';
import type { Services } from './services.js';

/** Room for the message framing besides the two byte fields. */
const FRAMING = 1024;

/**
 * Each stream is captured up to 16 MiB; the answer must still fit the 16 MiB gRPC message the
 * kubelet accepts, so the combined output is cut to that (stderr first, it is the one usually dropped).
 */
export function fitOutput(stdout: Buffer, stderr: Buffer, max = MAX_MESSAGE_BYTES - FRAMING): { stdout: Buffer; stderr: Buffer } {
  if (stdout.length + stderr.length <= max) return { stdout, stderr };
  const out = stdout.subarray(0, Math.min(stdout.length, max));
  return { stdout: out, stderr: stderr.subarray(0, max - out.length) };
}

/** Runs the command to completion in the container; a timeout is DEADLINE_EXCEEDED (the command is killed). */
export function execSync(s: Services) {
  return async (req: ExecSyncRequest__Output): Promise<ExecSyncResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('ExecSync: container_id is required');
    const timeout = Number(req.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new InvalidArgumentError(`ExecSync: timeout "${req.timeout}" must be a non-negative number of seconds`);
    const res = await s.containers.execSync(req.container_id, req.cmd, timeout);
    const out = fitOutput(Buffer.from(res.stdout), Buffer.from(res.stderr));
    return { stdout: out.stdout, stderr: out.stderr, exit_code: res.exitCode };
  };
}
