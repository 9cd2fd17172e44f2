// Port forwarding over WebSocket (kubelet's v4.channel.k8s.io / v4.base64.channel.k8s.io, or no
// subprotocol for binary): every requested port gets a data channel 2i and an error channel 2i+1,
// each of which first carries the port as two little-endian bytes. One connection per port for the
// life of the WebSocket; it closes when all of them are done.
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { errorMessage } from '../../lib/errors.js';
import { REUSABLE_AFTER_WRITE, type PortForwardBackend } from './backend.js';
import { streamingBytes, type SessionResult } from './metrics.js';
import type { PortForwardRequest } from './requests.js';
import { ChannelSocket } from './ws-channels.js';

export const WS_PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;

class ChannelDuplex extends Duplex {
  /** ChannelSocket.send copies the chunk into its message before it returns. */
  readonly [REUSABLE_AFTER_WRITE] = true;
  constructor(
    private readonly ch: ChannelSocket,
    private readonly channel: number,
  ) {
    super({ allowHalfOpen: true });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    streamingBytes.inc({ kind: 'portforward', direction: 'out' }, chunk.length);
    this.ch.send(this.channel, chunk, cb);
  }
  override _read(): void {
    this.ch.ws.resume();
  }
  deliver(data: Buffer): void {
    streamingBytes.inc({ kind: 'portforward', direction: 'in' }, data.length);
    if (!this.push(data)) this.ch.ws.pause();
  }
}

export async function serveWsPortForward(ws: WebSocket, protocol: string, ports: number[], req: PortForwardRequest, backend: PortForwardBackend): Promise<SessionResult> {
  const ch = new ChannelSocket(ws, protocol);
  const abort = new AbortController();
  const streams = ports.map((_, i) => new ChannelDuplex(ch, 2 * i));
  ch.onMessage = (channel, data) => {
    if (channel % 2 === 0) streams[channel / 2]?.deliver(data);
  };
  ws.on('close', () => {
    abort.abort();
    for (const s of streams) s.push(null);
  });
  const send = (channel: number, data: Buffer): Promise<void> => new Promise((r) => ch.send(channel, data, () => r()));
  let failures = 0;
  await Promise.all(
    ports.map(async (port, i) => {
      const le = Buffer.alloc(2);
      le.writeUInt16LE(port);
      await send(2 * i, le);
      await send(2 * i + 1, le);
      const stream = streams[i] as ChannelDuplex;
      try {
        await backend.portForward(req.sandboxId, port, stream, abort.signal);
      } catch (err) {
        failures++;
        await send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${req.sandboxId}: ${errorMessage(err)}`));
      }
    }),
  );
  ws.close(1000);
  return failures > 0 ? 'error' : 'success';
}
