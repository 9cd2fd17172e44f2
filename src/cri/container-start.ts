import { InvalidArgumentError } from '../lib/errors.js';
import type { StartContainerRequest__Output } from './generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from './generated/runtime/v1/StartContainerResponse.js';
import type { Services } from './services.js';

export function startContainer(s: Services) {
  return async (req: StartContainerRequest__Output): Promise<StartContainerResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('StartContainer: container_id is required');
    await s.containers.start(req.container_id);
    return {};
  };
}
