import { InvalidArgumentError } from '../lib/errors.js';
import type { StopPodSandboxRequest__Output } from './generated/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from './generated/runtime/v1/StopPodSandboxResponse.js';
import type { Services } from './services.js';

export function stopPodSandbox(s: Services) {
  return async (req: StopPodSandboxRequest__Output): Promise<StopPodSandboxResponse> => {
    if (req.pod_sandbox_id === '') throw new InvalidArgumentError('StopPodSandbox: pod_sandbox_id is required');
    await s.sandboxes.stop(req.pod_sandbox_id);
    return {};
  };
}
