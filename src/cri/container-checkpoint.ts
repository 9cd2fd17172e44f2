import { InvalidArgumentError } from '../lib/errors.js';
import type { CheckpointContainerRequest__Output } from './generated/runtime/v1/CheckpointContainerRequest.js';
import type { CheckpointContainerResponse } from './generated/runtime/v1/CheckpointContainerResponse.js';
import type { Services } from './services.js';

export function checkpointContainer(s: Services) {
  return async (req: CheckpointContainerRequest__Output): Promise<CheckpointContainerResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('CheckpointContainer: container_id is required');
    const timeout = Number(req.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new InvalidArgumentError(`CheckpointContainer: timeout must be 0 (the default) or a number of seconds, got ${req.timeout}`);
    await s.containers.checkpoint(req.container_id, req.location, timeout);
    return {};
  };
}
