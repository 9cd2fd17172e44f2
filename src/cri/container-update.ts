import { InvalidArgumentError } from '../lib/errors.js';
import type { UpdateContainerResourcesRequest__Output } from './generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from './generated/runtime/v1/UpdateContainerResourcesResponse.js';
import { resourcesFromProto } from './mapping/sandbox-mapping.js';
import type { Services } from './services.js';

export function updateContainerResources(s: Services) {
  return async (req: UpdateContainerResourcesRequest__Output): Promise<UpdateContainerResourcesResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('UpdateContainerResources: container_id is required');
    const resources = resourcesFromProto(req.linux, 'linux');
    if (!resources) throw new InvalidArgumentError('UpdateContainerResources: linux resources are required');
    await s.containers.updateResources(req.container_id, resources);
    return {};
  };
}
