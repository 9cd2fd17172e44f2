import { InvalidArgumentError } from '../lib/errors.js';
import type { RemovePodSandboxRequest__Output } from './generated/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from './generated/runtime/v1/RemovePodSandboxResponse.js';
import type { Services } from './services.js';

/** Idempotent: a pod that is already gone is not an error. */
export function removePodSandbox(s: Services) {
  return async (req: RemovePodSandboxRequest__Output): Promise<RemovePodSandboxResponse> => {
    if (req.pod_sandbox_id === '') throw new InvalidArgumentError('RemovePodSandbox: pod_sandbox_id is required');
    await s.sandboxes.remove(req.pod_sandbox_id);
    return {};
  };
}
