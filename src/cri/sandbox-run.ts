import type { RunPodSandboxRequest__Output } from './generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from './generated/runtime/v1/RunPodSandboxResponse.js';
import { sandboxConfigFromProto } from './mapping/sandbox-mapping.js';
import type { Services } from './services.js';

export function runPodSandbox(s: Services) {
  // The call's signal: a Run its caller gave up on is handed to the identical retry (same id).
  return async (req: RunPodSandboxRequest__Output, cancelled?: AbortSignal): Promise<RunPodSandboxResponse> => {
    const sandbox = await s.sandboxes.run(sandboxConfigFromProto(req.config), req.runtime_handler, cancelled);
    return { pod_sandbox_id: sandbox.id };
  };
}
