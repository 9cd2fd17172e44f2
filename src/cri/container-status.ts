import { InvalidArgumentError } from '../lib/errors.js';
import type { ContainerStatusRequest__Output } from './generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from './generated/runtime/v1/ContainerStatusResponse.js';
import { containerStatusToProto } from './mapping/container-mapping.js';
import type { Services } from './services.js';

export function containerStatus(s: Services) {
  return async (req: ContainerStatusRequest__Output): Promise<ContainerStatusResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('ContainerStatus: container_id is required');
    const c = s.containers.get(req.container_id);
    const info: Record<string, string> = {};
    if (req.verbose) {
      // containerd's shape: one "info" key with JSON (pid, sandbox, runtime spec, ...).
      info.info = JSON.stringify({
        pid: c.status.pid,
        monitorPid: c.status.monitorPid,
        sandboxID: c.podSandboxId,
        runtimeHandler: c.runtimeHandler,
        bundle: c.bundle,
        rootfs: c.rootfs,
        upperDir: c.upperDir,
        cgroupsPath: c.cgroupsPath,
        config: c.config,
        runtimeSpec: await s.containers.spec(c.id),
      });
    }
    return { status: containerStatusToProto(c), info };
  };
}
