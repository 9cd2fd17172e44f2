// The channel framing shared by Kubernetes' WebSocket protocols: binary messages start with the
// channel number; the base64 protocols send text messages starting with the channel as an ASCII
// digit followed by base64 data; v5 adds the close signal [255, channel].
import type { RawData, WebSocket } from 'ws';

const CLOSE_SIGNAL = 255;

export class ChannelSocket {
  readonly base64: boolean;
  readonly closeSignal: boolean;
  onMessage: (channel: number, data: Buffer) => void = () => undefined;
  onCloseSignal: (channel: number) => void = () => undefined;

  constructor(
    readonly ws: WebSocket,
    protocol: string,
  ) {
    this.base64 = protocol.includes('base64.');
    this.closeSignal = protocol.startsWith('v5.');
    ws.on('message', (data: RawData, isBinary: boolean) => this.receive(toBuffer(data), isBinary));
  }

  send(channel: number, data: Buffer, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return cb();
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + data.toString('base64'), { binary: false }, (err) => cb(err ?? null));
    else this.ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, (err) => cb(err ?? null));
  }

  private receive(buf: Buffer, isBinary: boolean): void {
    if (buf.length === 0) return;
    if (this.closeSignal && isBinary && buf[0] === CLOSE_SIGNAL) {
      if (buf.length === 2) this.onCloseSignal(buf[1] as number);
      return;
    }
    if (this.base64) {
      const channel = (buf[0] as number) - 48;
      this.onMessage(channel, Buffer.from(buf.subarray(1).toString('latin1'), 'base64'));
    } else {
      this.onMessage(buf[0] as number, buf.subarray(1));
    }
  }
}

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
