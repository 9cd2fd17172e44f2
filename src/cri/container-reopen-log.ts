import { InvalidArgumentError } from '../lib/errors.js';
import type { ReopenContainerLogRequest__Output } from './generated/runtime/v1/ReopenContainerLogRequest.js';
import type { ReopenContainerLogResponse } from './generated/runtime/v1/ReopenContainerLogResponse.js';
import type { Services } from './services.js';

/** After the kubelet renamed the log file: the monitor opens a new one at the same path. */
export function reopenContainerLog(s: Services) {
  return async (req: ReopenContainerLogRequest__Output): Promise<ReopenContainerLogResponse> => {
    if (req.container_id === '') throw new InvalidArgumentError('ReopenContainerLog: container_id is required');
    await s.containers.reopenLog(req.container_id);
    return {};
  };
}
