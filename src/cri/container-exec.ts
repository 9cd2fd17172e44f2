// Exec: validate, look the container up (through the streaming backend), return the one-use URL
// on the streaming server. The command runs when the client opens that URL.
import type { ExecRequest__Output } from './generated/runtime/v1/ExecRequest.js';
import type { ExecResponse } from './generated/runtime/v1/ExecResponse.js';
import type { Streaming } from './services.js';

export function exec(streaming: Streaming) {
  return async (req: ExecRequest__Output): Promise<ExecResponse> => ({
    url: await streaming.exec({ containerId: req.container_id, cmd: req.cmd, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }),
  });
}
