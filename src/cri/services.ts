// The domain services the gRPC layer calls into. Each later issue adds its service here.
import type { RuntimeInfo } from '../runtime/runtime-info.js';

export interface Services {
  runtimeInfo: RuntimeInfo;
}
