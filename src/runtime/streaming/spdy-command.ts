// Exec/attach over SPDY (remotecommand protocols v2-v4 and the legacy channel.k8s.io): the client
// opens one stream per channel, named by its `streamtype` header; we reply to each, wait (bounded)
// until every expected one is there, run the command, then send the status on the error stream.
import { finished } from 'node:stream/promises';
import type { Logger } from '../../lib/log.js';
import type { StreamingBackends } from './backend.js';
import type { SessionResult } from './metrics.js';
import { runCommand } from './remote-command.js';
import type { AttachRequest, ExecRequest } from './requests.js';
import { ResizeChannel } from './resize-channel.js';
import { header } from './spdy/header-block.js';
import type { SpdySession, SpdyStream } from './spdy/session.js';

export const SPDY_COMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

export interface SpdyCommandOptions {
  streamCreationTimeoutMs: number;
  log: Logger;
}

export function serveSpdyCommand(
  session: SpdySession,
  protocol: string,
  req: ExecRequest | AttachRequest,
  backends: StreamingBackends,
  options: SpdyCommandOptions,
): Promise<SessionResult> {
  const expected = new Set<string>(['error']);
  if (req.stdin) expected.add('stdin');
  if (req.stdout) expected.add('stdout');
  if (req.stderr && !req.tty) expected.add('stderr');
  const hasResize = req.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io');
  if (hasResize) expected.add('resize');
  const streams = new Map<string, SpdyStream>();
  const abort = new AbortController();

  return new Promise<SessionResult>((resolve) => {
    let started = false;
    const timer = setTimeout(() => {
      options.log.warn({ missing: [...expected].filter((t) => !streams.has(t)), timeoutMs: options.streamCreationTimeoutMs }, 'timed out waiting for the client to create streams');
      session.destroy();
    }, options.streamCreationTimeoutMs);
    session.on('close', () => {
      clearTimeout(timer);
      abort.abort();
      if (!started) resolve('error');
    });
    session.on('stream', (st) => {
      void st.reply().catch(() => undefined);
      const type = header(st.headers, 'streamtype') ?? '';
      if (!expected.has(type) || streams.has(type)) {
        // Replied (as kubelet does) but unused: drain it so it never blocks the session.
        st.resume();
        return;
      }
      streams.set(type, st);
      if (type !== 'stdin' && type !== 'resize') st.resume(); // output streams carry nothing inbound
      if (streams.size < expected.size) return;
      clearTimeout(timer);
      started = true;
      void run().then(resolve);
    });
  });

  async function run(): Promise<SessionResult> {
    const resize = hasResize ? new ResizeChannel() : null;
    const resizeStream = streams.get('resize');
    if (resize && resizeStream) resizeStream.on('data', (b: Buffer) => resize.feed(b));
    const stdout = streams.get('stdout') ?? null;
    const stderr = streams.get('stderr') ?? null;
    const errorStream = streams.get('error');
    const result = await runCommand(
      req,
      backends,
      {
        io: { stdin: streams.get('stdin') ?? null, stdout, stderr, resize },
        structuredStatus: protocol === 'v4.channel.k8s.io',
        finish: async (status) => {
          for (const s of [stdout, stderr]) if (s && !s.writableEnded && !s.destroyed) s.end();
          await Promise.all([stdout, stderr].map((s) => (s && !s.destroyed ? finished(s, { readable: false }).catch(() => undefined) : undefined)));
          if (errorStream && !errorStream.destroyed) {
            if (status.length > 0) errorStream.write(status);
            errorStream.end();
            await finished(errorStream, { readable: false }).catch(() => undefined);
          }
          session.close();
        },
      },
      abort.signal,
    );
    return result;
  }
}
