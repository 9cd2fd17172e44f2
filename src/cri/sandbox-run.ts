import type { RunPodSandboxRequest__Output } from './generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from './generated/runtime/v1/RunPodSandboxResponse.js';
import { sandboxConfigFromProto } from './mapping/sandbox-mapping.js';
import type { Services } from './services.js';

export function runPodSandbox(s: Services) {
  return async (req: RunPodSandboxRequest__Output): Promise<RunPodSandboxResponse> => {
    const sandbox = await s.sandboxes.run(sandboxConfigFromProto(req.config), req.runtime_handler);
    return { pod_sandbox_id: sandbox.id };
  };
}
