// PortForward: validate, look the pod up (through the streaming backend), return the one-use URL
// on the streaming server. Ports are chosen per connection by the client; the request's list is
// what WebSocket clients without a `port` query get.
import type { PortForwardRequest__Output } from './generated/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from './generated/runtime/v1/PortForwardResponse.js';
import type { Streaming } from './services.js';

export function portForward(streaming: Streaming) {
  return async (req: PortForwardRequest__Output): Promise<PortForwardResponse> => ({
    url: await streaming.portForward({ sandboxId: req.pod_sandbox_id, ports: req.port }),
  });
}
