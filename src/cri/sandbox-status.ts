import { InvalidArgumentError } from '../lib/errors.js';
import type { PodSandboxStatusRequest__Output } from './generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from './generated/runtime/v1/PodSandboxStatusResponse.js';
import { containerStatusToProto } from './mapping/container-mapping.js';
import { podSandboxStatusToProto } from './mapping/sandbox-mapping.js';
import type { Services } from './services.js';

export function podSandboxStatus(s: Services) {
  return async (req: PodSandboxStatusRequest__Output): Promise<PodSandboxStatusResponse> => {
    if (req.pod_sandbox_id === '') throw new InvalidArgumentError('PodSandboxStatus: pod_sandbox_id is required');
    const sandbox = s.sandboxes.get(req.pod_sandbox_id);
    const info: Record<string, string> = {};
    if (req.verbose) {
      // containerd's shape: one "info" key with JSON (pid, runtime spec, netns, ...).
      info.info = JSON.stringify({
        pid: sandbox.pid,
        monitorPid: sandbox.monitorPid,
        runtimeHandler: sandbox.runtimeHandler,
        netNamespacePath: sandbox.netnsPath ?? '',
        cgroupsPath: sandbox.cgroupsPath,
        bundle: sandbox.bundle,
        config: sandbox.config,
        runtimeSpec: await s.sandboxes.infraSpec(sandbox.id),
      });
    }
    return { status: podSandboxStatusToProto(sandbox), info, containers_statuses: s.containers.list({ podSandboxId: sandbox.id }).map(containerStatusToProto), timestamp: (BigInt(Date.now()) * 1_000_000n).toString() };
  };
}
