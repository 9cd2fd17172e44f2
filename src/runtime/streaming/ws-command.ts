// Exec/attach over WebSocket (Kubernetes channel protocols): each message starts with a channel
// byte (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize), or in the base64 protocols a digit
// followed by base64 text. v5.channel.k8s.io adds the close signal [255, channel], which lets a
// client end stdin without closing the connection.
import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { WebSocket } from 'ws';
import type { StreamingBackends } from './backend.js';
import { streamingBytes, type SessionResult, type StreamKind } from './metrics.js';
import { runCommand } from './remote-command.js';
import type { AttachRequest, ExecRequest } from './requests.js';
import { ResizeChannel } from './resize-channel.js';
import { ChannelSocket } from './ws-channels.js';

export const WS_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'] as const;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

export function serveWsCommand(ws: WebSocket, protocol: string, req: ExecRequest | AttachRequest, backends: StreamingBackends): Promise<SessionResult> {
  const kind: StreamKind = req.kind;
  const ch = new ChannelSocket(ws, protocol);
  const abort = new AbortController();
  const stdin = req.stdin ? new PassThrough() : null;
  const resize = req.tty ? new ResizeChannel() : null;
  ch.onMessage = (channel, data) => {
    if (channel === STDIN && stdin && !stdin.writableEnded) {
      streamingBytes.inc({ kind, direction: 'in' }, data.length);
      if (!stdin.write(data)) {
        ws.pause();
        stdin.once('drain', () => ws.resume());
      }
    } else if (channel === RESIZE) resize?.feed(data);
  };
  ch.onCloseSignal = (channel) => {
    if (channel === STDIN) stdin?.end();
  };
  ws.on('close', () => {
    abort.abort();
    if (stdin && !stdin.writableEnded) stdin.end();
  });
  const output = (channel: number): Writable =>
    new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        streamingBytes.inc({ kind, direction: 'out' }, chunk.length);
        ch.send(channel, chunk, cb);
      },
    });
  const stdout = req.stdout ? output(STDOUT) : null;
  const stderr = req.stderr && !req.tty ? output(STDERR) : null;
  return runCommand(
    req,
    backends,
    {
      io: { stdin, stdout, stderr, resize },
      structuredStatus: protocol.startsWith('v4.') || protocol.startsWith('v5.'),
      finish: async (status) => {
        for (const s of [stdout, stderr]) s?.end();
        await Promise.all([stdout, stderr].map((s) => (s ? finished(s).catch(() => undefined) : undefined)));
        if (status.length > 0) await new Promise<void>((r) => ch.send(ERROR, status, () => r()));
        ws.close(1000);
      },
    },
    abort.signal,
  );
}
