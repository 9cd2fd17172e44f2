// Attach: validate, look the container up (through the streaming backend), return the one-use URL
// on the streaming server.
import type { AttachRequest__Output } from './generated/runtime/v1/AttachRequest.js';
import type { AttachResponse } from './generated/runtime/v1/AttachResponse.js';
import type { Streaming } from './services.js';

export function attach(streaming: Streaming) {
  return async (req: AttachRequest__Output): Promise<AttachResponse> => ({
    url: await streaming.attach({ containerId: req.container_id, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }),
  });
}
