import type { VersionRequest__Output } from './generated/runtime/v1/VersionRequest.js';
import type { VersionResponse } from './generated/runtime/v1/VersionResponse.js';
import type { Services } from './services.js';

export function version(s: Services) {
  return (_req: VersionRequest__Output): VersionResponse => {
    const v = s.runtimeInfo.version();
    return { version: v.version, runtime_name: v.runtimeName, runtime_version: v.version, runtime_api_version: v.runtimeApiVersion };
  };
}
