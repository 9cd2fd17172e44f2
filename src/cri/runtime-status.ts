import type { StatusRequest__Output } from './generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from './generated/runtime/v1/StatusResponse.js';
import { Encoded } from './grpc/encoded-list.js';
import { criMethod } from './grpc/proto.js';
import type { RuntimeStatus } from '../runtime/engine/runtime-info.js';
import type { Services } from './services.js';

export function status(s: Services) {
  const serialize = criMethod('runtime.v1.RuntimeService', 'Status').responseSerialize;
  // The kubelet polls Status and its answer rarely changes: the last one is kept in wire form, for
  // the same RuntimeStatus object without a look, for a new one while it says the same.
  let last: { from: RuntimeStatus; text: string; answer: Encoded } | undefined;
  return async (req: StatusRequest__Output): Promise<StatusResponse | Encoded> => {
    const st = await s.runtimeInfo.status(req.verbose);
    if (!req.verbose && last?.from === st) return last.answer;
    const res: StatusResponse = {
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
    if (req.verbose) return res;
    const text = JSON.stringify(res);
    last = { from: st, text, answer: last?.text === text ? last.answer : new Encoded(serialize(res)) };
    return last.answer;
  };
}
