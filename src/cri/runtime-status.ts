import type { StatusRequest__Output } from './generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from './generated/runtime/v1/StatusResponse.js';
import type { Services } from './services.js';

export function status(s: Services) {
  return async (req: StatusRequest__Output): Promise<StatusResponse> => {
    const st = await s.runtimeInfo.status(req.verbose);
    return {
      status: { conditions: st.conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })) },
      runtime_handlers: st.handlers.map((h) => ({
        name: h.name,
        features: { recursive_read_only_mounts: h.features.recursiveReadOnlyMounts, user_namespaces: h.features.userNamespaces },
      })),
      // SupplementalGroupsPolicy Merge/Strict are applied, and ContainerStatus.user reports the
      // uid, gid and groups resolved at create time.
      features: { supplemental_groups_policy: true },
      info: st.info,
    };
  };
}
