import type { ListPodSandboxRequest__Output } from './generated/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from './generated/runtime/v1/ListPodSandboxResponse.js';
import type { StreamPodSandboxesRequest__Output } from './generated/runtime/v1/StreamPodSandboxesRequest.js';
import type { StreamPodSandboxesResponse } from './generated/runtime/v1/StreamPodSandboxesResponse.js';
import type { Sandbox } from '../runtime/sandbox/sandbox-config.js';
import { EncodedList, type Encoded } from './grpc/encoded-list.js';
import { criMethod } from './grpc/proto.js';
import { podSandboxToProto, sandboxFilterFromProto } from './mapping/sandbox-mapping.js';
import type { Services } from './services.js';

/** Answered from memory, unchanged sandboxes from their cached wire bytes: the kubelet polls this every second. */
export function listPodSandbox(s: Services) {
  const serialize = criMethod('runtime.v1.RuntimeService', 'ListPodSandbox').responseSerialize;
  const list = new EncodedList<Sandbox>((sb) => serialize({ items: [podSandboxToProto(sb)] } satisfies ListPodSandboxResponse));
  return (req: ListPodSandboxRequest__Output): Encoded => list.encode(s.sandboxes.list(sandboxFilterFromProto(req.filter)));
}

/** The same list as a stream, in pages, so a node with thousands of pods never hits the message cap. */
export function streamPodSandboxes(s: Services) {
  return async (req: StreamPodSandboxesRequest__Output, send: (res: StreamPodSandboxesResponse) => void): Promise<void> => {
    const items = s.sandboxes.list(sandboxFilterFromProto(req.filter)).map(podSandboxToProto);
    const PAGE = 500;
    for (let i = 0; i < items.length; i += PAGE) send({ pod_sandboxes: items.slice(i, i + PAGE) });
    if (items.length === 0) send({ pod_sandboxes: [] });
  };
}
