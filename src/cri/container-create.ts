import type { CreateContainerRequest__Output } from './generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from './generated/runtime/v1/CreateContainerResponse.js';
import { containerConfigFromProto } from './mapping/container-mapping.js';
import type { Services } from './services.js';

export function createContainer(s: Services) {
  return async (req: CreateContainerRequest__Output): Promise<CreateContainerResponse> => {
    const c = await s.containers.create(req.pod_sandbox_id, containerConfigFromProto(req.config));
    return { container_id: c.id };
  };
}
