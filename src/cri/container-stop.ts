import { InvalidArgumentError } from '../lib/errors.js';
import type { StopContainerRequest__Output } from './generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from './generated/runtime/v1/StopContainerResponse.js';
import type { Services } from './services.js';

export function stopContainer(s: Services) {
  return async (req: StopContainerRequest__Output): Promise<StopContainerResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('StopContainer: container_id is required');
    const timeout = Number(req.timeout);
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new InvalidArgumentError(`StopContainer: timeout "${req.timeout}" must be a non-negative number of seconds`);
    await s.containers.stop(req.container_id, timeout);
    return {};
  };
}
