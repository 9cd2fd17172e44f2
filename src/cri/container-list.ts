import type { ListContainersRequest__Output } from './generated/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from './generated/runtime/v1/ListContainersResponse.js';
import type { StreamContainersRequest__Output } from './generated/runtime/v1/StreamContainersRequest.js';
import type { StreamContainersResponse } from './generated/runtime/v1/StreamContainersResponse.js';
import type { Container } from '../runtime/container/container-record.js';
import { containerFilterFromProto, containerToProto } from './mapping/container-mapping.js';
import { EncodedList, type Encoded } from './grpc/encoded-list.js';
import { criMethod } from './grpc/proto.js';
import type { Services } from './services.js';

/** Answered from memory, unchanged containers from their cached wire bytes: the kubelet polls this every second. */
export function listContainers(s: Services) {
  const serialize = criMethod('runtime.v1.RuntimeService', 'ListContainers').responseSerialize;
  const list = new EncodedList<Container>((c) => serialize({ containers: [containerToProto(c)] } satisfies ListContainersResponse));
  return (req: ListContainersRequest__Output): Encoded => list.encode(s.containers.list(containerFilterFromProto(req.filter)));
}

/** The same list in pages, so a node with thousands of containers never hits the message cap. */
export function streamContainers(s: Services) {
  return async (req: StreamContainersRequest__Output, send: (res: StreamContainersResponse) => void): Promise<void> => {
    const items = s.containers.list(containerFilterFromProto(req.filter)).map(containerToProto);
    const PAGE = 500;
    for (let i = 0; i < items.length; i += PAGE) send({ containers: items.slice(i, i + PAGE) });
    if (items.length === 0) send({ containers: [] });
  };
}
