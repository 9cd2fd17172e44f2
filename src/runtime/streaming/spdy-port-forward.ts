// Port forwarding over SPDY (portforward.k8s.io): for every connection the client opens an error
// stream and a data stream carrying the same `requestid` and `port` headers; we pair them (bounded
// wait), connect the data stream to the port in the pod, and report failures as text on the error
// stream. Any number of pairs may run at once on one session.
import type { Logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import type { PortForwardBackend } from './backend.js';
import type { SessionResult } from './metrics.js';
import type { PortForwardRequest } from './requests.js';
import { header } from './spdy/header-block.js';
import { RstStatus } from './spdy/frames.js';
import type { SpdySession, SpdyStream } from './spdy/session.js';

export const SPDY_PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;

/**
 * The WebSocket subprotocol of client-go's tunneling dialer (kubectl/crictl port-forward over
 * WebSocket): the same SPDY/3.1 protocol, its bytes carried in binary messages, no HTTP inside.
 */
export const SPDY_TUNNEL_PORT_FORWARD_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

interface Pair {
  port: string;
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export interface SpdyPortForwardOptions {
  streamCreationTimeoutMs: number;
  log: Logger;
}

export function serveSpdyPortForward(
  session: SpdySession,
  req: PortForwardRequest,
  backend: PortForwardBackend,
  options: SpdyPortForwardOptions,
): Promise<SessionResult> {
  const pairs = new Map<string, Pair>();
  const abort = new AbortController();
  const running = new Set<Promise<void>>();
  let failures = 0;

  session.on('stream', (st) => {
    void st.reply().catch(() => undefined);
    const type = header(st.headers, 'streamtype') ?? '';
    const id = requestId(st, type);
    if ((type !== 'data' && type !== 'error') || id === undefined) {
      options.log.debug({ type, streamId: st.id }, 'port forward: unexpected stream');
      st.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    let pair = pairs.get(id);
    if (!pair) {
      pair = {
        port: header(st.headers, 'port') ?? '',
        timer: setTimeout(() => {
          options.log.warn({ requestId: id }, 'port forward: timed out waiting for the other stream of the pair');
          const p = pairs.get(id);
          pairs.delete(id);
          p?.data?.reset();
          p?.error?.reset();
          failures++;
        }, options.streamCreationTimeoutMs),
      };
      pairs.set(id, pair);
    }
    if (pair[type]) {
      st.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    pair[type] = st;
    if (type === 'error') st.resume(); // the client half-closes it at once; nothing comes in
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      const p = forward(pair.port, pair.data, pair.error).finally(() => running.delete(p));
      running.add(p);
    }
  });

  async function forward(portText: string, data: SpdyStream, error: SpdyStream): Promise<void> {
    const port = Number(portText);
    try {
      if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new Error(`invalid port header "${portText}"`);
      await backend.portForward(req.sandboxId, port, data, abort.signal);
    } catch (err) {
      failures++;
      if (!error.destroyed) error.write(`error forwarding port ${portText} to pod ${req.sandboxId}: ${errorMessage(err)}`);
    } finally {
      if (!error.destroyed && !error.writableEnded) error.end();
      if (!data.destroyed && !data.writableEnded) data.end();
    }
  }

  return new Promise((resolve) => {
    session.on('close', () => {
      abort.abort();
      for (const p of pairs.values()) clearTimeout(p.timer);
      void Promise.allSettled([...running]).then(() => resolve(failures > 0 ? 'error' : 'success'));
    });
  });
}

/** Old clients send no requestid; kubelet derives it from the stream ids (data = error + 2). */
function requestId(st: SpdyStream, type: string): string | undefined {
  const id = header(st.headers, 'requestid');
  if (id !== undefined && id !== '') return id;
  if (type === 'error') return String(st.id);
  if (type === 'data') return String(st.id - 2);
  return undefined;
}
