import type { ContainerEvent } from '../runtime/container/container-record.js';
import { containerStatusToProto } from './mapping/container-mapping.js';
import type { ContainerEventResponse } from './generated/runtime/v1/ContainerEventResponse.js';
import type { GetEventsRequest__Output } from './generated/runtime/v1/GetEventsRequest.js';
import { podSandboxStatusToProto } from './mapping/sandbox-mapping.js';
import type { Services } from './services.js';
import { ResourceExhaustedError } from '../lib/errors.js';

const TYPES = {
  CREATED: 'CONTAINER_CREATED_EVENT',
  STARTED: 'CONTAINER_STARTED_EVENT',
  STOPPED: 'CONTAINER_STOPPED_EVENT',
  DELETED: 'CONTAINER_DELETED_EVENT',
} as const;

function toProto(s: Services, e: ContainerEvent): ContainerEventResponse {
  const sandbox = e.sandbox ?? s.sandboxes.find(e.podSandboxId);
  return {
    container_id: e.id,
    container_event_type: TYPES[e.type],
    created_at: e.createdAtNs,
    pod_sandbox_status: sandbox ? podSandboxStatusToProto(sandbox) : null,
    containers_statuses: e.containers.map(containerStatusToProto),
  };
}

/** Streams every container event from now on until the client goes away. */
export function getContainerEvents(s: Services) {
  return async (_req: GetEventsRequest__Output, send: (res: ContainerEventResponse) => void, cancelled: AbortSignal): Promise<void> => {
    const sub = s.containerEvents.subscribe();
    try {
      for (;;) {
        const e = await sub.next(cancelled);
        if (!e) break;
        send(toProto(s, e));
      }
      if (sub.overflowed) throw new ResourceExhaustedError('GetContainerEvents: the client fell too far behind; events were dropped');
    } finally {
      sub.close();
    }
  };
}
