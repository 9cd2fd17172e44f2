import { InvalidArgumentError } from '../errors.js';
import type { ExecSyncRequest__Output } from './generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from './generated/runtime/v1/ExecSyncResponse.js';
import type { Services } from './services.js';

/** Runs the command to completion in the container; a timeout is DEADLINE_EXCEEDED (the command is killed). */
export function execSync(s: Services) {
  return async (req: ExecSyncRequest__Output): Promise<ExecSyncResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('ExecSync: container_id is required');
    const timeout = Number(req.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new InvalidArgumentError(`ExecSync: timeout "${req.timeout}" must be a non-negative number of seconds`);
    const res = await s.containers.execSync(req.container_id, req.cmd, timeout);
    return { stdout: Buffer.from(res.stdout), stderr: Buffer.from(res.stderr), exit_code: res.exitCode };
  };
}
