import { InvalidArgumentError } from '../lib/errors.js';
import type { UpdatePodSandboxResourcesRequest__Output } from './generated/runtime/v1/UpdatePodSandboxResourcesRequest.js';
import type { UpdatePodSandboxResourcesResponse } from './generated/runtime/v1/UpdatePodSandboxResourcesResponse.js';
import { resourcesFromProto } from './mapping/sandbox-mapping.js';
import type { Services } from './services.js';

export function updatePodSandboxResources(s: Services) {
  return async (req: UpdatePodSandboxResourcesRequest__Output): Promise<UpdatePodSandboxResourcesResponse> => {
    if (req.pod_sandbox_id === '') throw new InvalidArgumentError('UpdatePodSandboxResources: pod_sandbox_id is required');
    const overhead = resourcesFromProto(req.overhead, 'overhead');
    const resources = resourcesFromProto(req.resources, 'resources');
    await s.sandboxes.updateResources(req.pod_sandbox_id, { ...(overhead ? { overhead } : {}), ...(resources ? { resources } : {}) });
    return {};
  };
}
