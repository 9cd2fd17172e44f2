import type { RuntimeConfigRequest__Output } from './generated/runtime/v1/RuntimeConfigRequest.js';
import type { RuntimeConfigResponse } from './generated/runtime/v1/RuntimeConfigResponse.js';
import type { UpdateRuntimeConfigRequest__Output } from './generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from './generated/runtime/v1/UpdateRuntimeConfigResponse.js';
import type { Services } from './services.js';

export function runtimeConfig(s: Services) {
  return (_req: RuntimeConfigRequest__Output): RuntimeConfigResponse => ({
    linux: { cgroup_driver: s.runtimeInfo.cgroupDriver() === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' },
  });
}

export function updateRuntimeConfig(s: Services) {
  return (req: UpdateRuntimeConfigRequest__Output): UpdateRuntimeConfigResponse => {
    s.runtimeInfo.updatePodCidr(req.runtime_config?.network_config?.pod_cidr ?? '');
    return {};
  };
}
