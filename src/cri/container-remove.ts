import { InvalidArgumentError } from '../lib/errors.js';
import type { RemoveContainerRequest__Output } from './generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from './generated/runtime/v1/RemoveContainerResponse.js';
import type { Services } from './services.js';

/** Idempotent: removing a container that is gone is success. */
export function removeContainer(s: Services) {
  return async (req: RemoveContainerRequest__Output): Promise<RemoveContainerResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('RemoveContainer: container_id is required');
    await s.containers.remove(req.container_id);
    return {};
  };
}
