import type { CreateContainerRequest__Output } from './generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from './generated/runtime/v1/CreateContainerResponse.js';
import { containerConfigFromProto } from './mapping/container-mapping.js';
import type { Services } from './services.js';

export function createContainer(s: Services) {
  // The call's signal: a Create its caller gave up on is handed to the identical retry (same id).
  return async (req: CreateContainerRequest__Output, cancelled?: AbortSignal): Promise<CreateContainerResponse> => {
    const c = await s.containers.create(req.pod_sandbox_id, containerConfigFromProto(req.config), cancelled);
    return { container_id: c.id };
  };
}
