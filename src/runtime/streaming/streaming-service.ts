// The streaming server (as the kubelet expects from a CRI runtime): the CRI calls Exec, Attach and
// PortForward validate the request, park it under a single-use token and return a URL on this
// server; the client then opens /exec|/attach|/portforward/{token} with a SPDY/3.1 or WebSocket
// upgrade. An unknown, used or expired token gets 404 and nothing runs.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { UnimplementedError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { StreamingBackends } from './backend.js';
import { streamingActive, streamingBytes, streamingSessions, type SessionResult, type StreamKind } from './metrics.js';
import {
  validateAttach,
  validateExec,
  validatePortForward,
  type AttachRequest,
  type ExecRequest,
  type PortForwardRequest,
  type StreamRequest,
} from './requests.js';
import { SPDY_COMMAND_PROTOCOLS, serveSpdyCommand } from './spdy-command.js';
import { SPDY_PORT_FORWARD_PROTOCOLS, SPDY_TUNNEL_PORT_FORWARD_PROTOCOL, serveSpdyPortForward } from './spdy-port-forward.js';
import { SpdySession } from './spdy/session.js';
import { DEFAULT_TOKEN_TTL_MS, MAX_OUTSTANDING_TOKENS, TokenCache } from './token-cache.js';
import { WS_COMMAND_PROTOCOLS, serveWsCommand } from './ws-command.js';
import { WS_PORT_FORWARD_PROTOCOLS, serveWsPortForward } from './ws-port-forward.js';
import { WebSocketTunnel, tunnelHandshake } from './ws-tunnel.js';

// Loaded as CommonJS: an ESM import of node:http evaluates every export, and its lazy WebSocket/fetch
// getters load undici (~3 MB of RSS the daemon never uses).
const { createServer: createHttpServer } = process.getBuiltinModule('node:http');

export const STREAM_CREATION_TIMEOUT_MS = 30_000;

export interface StreamingConfig {
  address: string;
  port: number;
  tlsCert: string;
  tlsKey: string;
  /** A session with no traffic for this long is closed; 0 = never. */
  idleTimeoutMs: number;
  streamCreationTimeoutMs?: number;
  tokenTtlMs?: number;
  maxOutstandingTokens?: number;
  /** Injectable clock for token expiry. */
  now?: () => number;
}

const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,128})$/;

export class StreamingService {
  private server: Server | undefined;
  private readonly tokens: TokenCache<StreamRequest>;
  private readonly live = new Set<() => void>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private base = '';

  constructor(
    private readonly config: StreamingConfig,
    private readonly backends: StreamingBackends,
    private readonly log: Logger,
  ) {
    this.tokens = new TokenCache({
      ttlMs: config.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS,
      maxOutstanding: config.maxOutstandingTokens ?? MAX_OUTSTANDING_TOKENS,
      now: config.now,
    });
  }

  /** Which calls have a backend; the CRI layer answers UNIMPLEMENTED for the others. */
  supports(kind: StreamKind): boolean {
    return kind === 'exec' ? !!this.backends.exec : kind === 'attach' ? !!this.backends.attach : !!this.backends.portForward;
  }

  async start(): Promise<void> {
    const tls = this.config.tlsCert !== '';
    const server = tls
      ? createHttpsServer({ cert: await readFile(this.config.tlsCert), key: await readFile(this.config.tlsKey) })
      : createHttpServer();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket as Socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
    this.base = `${tls ? 'https' : 'http'}://${host}:${a.port}`;
    this.log.info({ url: this.base }, 'streaming server listening');
  }

  get baseUrl(): string {
    return this.base;
  }

  /** Close the listener and cut every open session (their processes are killed). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const cut of [...this.live]) cut();
    if (!server) return;
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
    this.wss.close();
  }

  async exec(r: Omit<ExecRequest, 'kind'>): Promise<string> {
    const req: ExecRequest = { kind: 'exec', ...r };
    validateExec(req);
    if (!this.backends.exec) throw new UnimplementedError('Exec is not implemented by nexcage yet');
    await this.backends.exec.checkExec(req.containerId);
    return this.url(req);
  }

  async attach(r: Omit<AttachRequest, 'kind'>): Promise<string> {
    const req: AttachRequest = { kind: 'attach', ...r };
    validateAttach(req);
    if (!this.backends.attach) throw new UnimplementedError('Attach is not implemented by nexcage yet');
    await this.backends.attach.checkAttach(req.containerId, req.stdin);
    return this.url(req);
  }

  async portForward(r: Omit<PortForwardRequest, 'kind'>): Promise<string> {
    const req: PortForwardRequest = { kind: 'portforward', ...r };
    validatePortForward(req);
    if (!this.backends.portForward) throw new UnimplementedError('PortForward is not implemented by nexcage yet');
    await this.backends.portForward.checkPortForward(req.sandboxId);
    return this.url(req);
  }

  private url(req: StreamRequest): string {
    if (!this.base) throw new UnimplementedError('the streaming server is not running');
    return `${this.base}/${req.kind}/${this.tokens.insert(req)}`;
  }

  /** The request behind the URL, consumed; undefined (and a 404) when the token is not valid. */
  private lookup(url: string | undefined): StreamRequest | undefined {
    const path = (url ?? '/').split('?')[0] ?? '/';
    const m = ROUTE.exec(path);
    if (!m) return undefined;
    const req = this.tokens.consume(m[2] as string);
    if (!req || req.kind !== m[1]) return undefined;
    return req;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const found = this.lookup(req.url);
    if (!found) {
      streamingSessions.inc({ kind: kindOf(req.url), transport: 'http', result: 'rejected' });
      res.writeHead(404, { 'content-type': 'text/plain' }).end('streaming request not found or expired\n');
      return;
    }
    streamingSessions.inc({ kind: found.kind, transport: 'http', result: 'rejected' });
    res.writeHead(400, { 'content-type': 'text/plain' }).end('this URL needs an Upgrade to SPDY/3.1 or websocket\n');
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err }, 'streaming socket error'));
    const found = this.lookup(req.url);
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    const transport = upgrade === 'websocket' ? 'websocket' : 'spdy';
    if (!found) {
      streamingSessions.inc({ kind: kindOf(req.url), transport, result: 'rejected' });
      return rawReply(socket, 404, 'Not Found', 'streaming request not found or expired\n');
    }
    if (upgrade === 'websocket') return this.upgradeWebSocket(req, socket, head, found);
    if (upgrade.split(',').some((u) => u.trim() === 'spdy/3.1')) return this.upgradeSpdy(req, socket, head, found);
    streamingSessions.inc({ kind: found.kind, transport, result: 'rejected' });
    rawReply(socket, 400, 'Bad Request', `unsupported upgrade "${req.headers.upgrade ?? ''}": use SPDY/3.1 or websocket\n`);
  }

  private upgradeSpdy(req: IncomingMessage, socket: Socket, head: Buffer, found: StreamRequest): void {
    const server = found.kind === 'portforward' ? SPDY_PORT_FORWARD_PROTOCOLS : SPDY_COMMAND_PROTOCOLS;
    const offered = headerList(req.headers['x-stream-protocol-version']);
    // No offer at all is an old client: it gets the oldest protocol, as the kubelet does.
    const protocol = offered.length === 0 ? (server[server.length - 1] as string) : offered.find((p) => (server as readonly string[]).includes(p));
    if (!protocol) {
      streamingSessions.inc({ kind: found.kind, transport: 'spdy', result: 'rejected' });
      return rawReply(
        socket,
        403,
        'Forbidden',
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${server.join(' ')}]\n`,
        { 'X-Accepted-Stream-Protocol-Versions': server.join(', ') },
      );
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    socket.setNoDelay(true);
    const log = this.log.child({ stream: found.kind, transport: 'spdy', protocol });
    const session = new SpdySession(socket, { idleTimeoutMs: this.config.idleTimeoutMs, log, leaseReads: isPlainTcp(socket) });
    const opts = { streamCreationTimeoutMs: this.config.streamCreationTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS, log };
    let running: Promise<SessionResult>;
    if (found.kind === 'portforward') {
      const backend = this.backends.portForward;
      if (!backend) return session.destroy();
      running = serveSpdyPortForward(session, found, backend, opts);
    } else {
      running = serveSpdyCommand(session, protocol, found, this.backends, opts);
    }
    session.onBytes(head);
    this.track(found.kind, 'spdy', running, () => session.destroy(), () => {
      streamingBytes.inc({ kind: found.kind, direction: 'in' }, session.bytesIn);
      streamingBytes.inc({ kind: found.kind, direction: 'out' }, session.bytesOut);
    });
  }

  private upgradeWebSocket(req: IncomingMessage, socket: Socket, head: Buffer, found: StreamRequest): void {
    const server: readonly string[] = found.kind === 'portforward' ? [...WS_PORT_FORWARD_PROTOCOLS, SPDY_TUNNEL_PORT_FORWARD_PROTOCOL] : WS_COMMAND_PROTOCOLS;
    const offered = headerList(req.headers['sec-websocket-protocol']);
    const protocol = offered.find((p) => server.includes(p));
    if (offered.length > 0 && !protocol) {
      streamingSessions.inc({ kind: found.kind, transport: 'websocket', result: 'rejected' });
      return rawReply(socket, 400, 'Bad Request', `unsupported websocket subprotocols [${offered.join(' ')}]; server supports [${server.join(' ')}]\n`);
    }
    const tunnel = found.kind === 'portforward' && protocol === SPDY_TUNNEL_PORT_FORWARD_PROTOCOL;
    let ports: number[] = [];
    if (found.kind === 'portforward' && !tunnel) {
      const q = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port').flatMap((p) => p.split(','));
      ports = q.length > 0 ? q.map((p) => Number(p.trim())) : found.ports;
      if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        streamingSessions.inc({ kind: found.kind, transport: 'websocket', result: 'rejected' });
        return rawReply(socket, 400, 'Bad Request', 'port forward needs one or more valid "port" query parameters\n');
      }
    }
    if (tunnel) return this.serveTunneledPortForward(req, socket, head, found);
    const selected = protocol ?? '';
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (this.config.idleTimeoutMs > 0) {
        // Any byte either way resets a socket timeout: exactly "moves nothing for this long".
        socket.setTimeout(this.config.idleTimeoutMs, () => {
          this.log.info({ idleTimeoutMs: this.config.idleTimeoutMs, kind: found.kind }, 'streaming session idle, closing');
          ws.terminate();
        });
      }
      const effective = selected === '' ? (found.kind === 'portforward' ? 'v4.channel.k8s.io' : 'channel.k8s.io') : selected;
      let running: Promise<SessionResult>;
      if (found.kind === 'portforward') {
        const backend = this.backends.portForward;
        if (!backend) return ws.terminate();
        running = serveWsPortForward(ws, effective, ports, found, backend);
      } else {
        running = serveWsCommand(ws, effective, found, this.backends);
      }
      this.track(found.kind, 'websocket', running, () => ws.terminate(), () => undefined);
    });
  }

  /**
   * client-go's tunneling dialer: a plain SPDY/3.1 connection inside binary WebSocket messages
   * (handshake and framing in ws-tunnel.ts; `ws` cannot even parse the subprotocol, a "/" is no
   * token character).
   */
  private serveTunneledPortForward(req: IncomingMessage, socket: Socket, head: Buffer, found: PortForwardRequest): void {
    const protocol = SPDY_TUNNEL_PORT_FORWARD_PROTOCOL;
    const answer = tunnelHandshake(req, protocol);
    const backend = this.backends.portForward;
    if (!answer || !backend) {
      streamingSessions.inc({ kind: found.kind, transport: 'websocket', result: 'rejected' });
      return rawReply(socket, 400, 'Bad Request', 'invalid websocket handshake\n', { 'Sec-WebSocket-Version': '13' });
    }
    socket.write(answer);
    socket.setNoDelay(true);
    const log = this.log.child({ stream: found.kind, transport: 'websocket', protocol });
    const session = new SpdySession(new WebSocketTunnel(socket, head, isPlainTcp(socket)), { idleTimeoutMs: this.config.idleTimeoutMs, log });
    const running = serveSpdyPortForward(session, found, backend, { streamCreationTimeoutMs: this.config.streamCreationTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS, log });
    this.track(found.kind, 'websocket', running, () => session.destroy(), () => {
      streamingBytes.inc({ kind: found.kind, direction: 'in' }, session.bytesIn);
      streamingBytes.inc({ kind: found.kind, direction: 'out' }, session.bytesOut);
    });
  }

  private track(kind: StreamKind, transport: string, running: Promise<SessionResult>, cut: () => void, account: () => void): void {
    streamingActive.inc({ kind });
    this.live.add(cut);
    void running
      .catch((err: unknown) => {
        this.log.error({ err, kind }, 'streaming session failed');
        return 'error' as const;
      })
      .then((result) => {
        this.live.delete(cut);
        streamingActive.dec({ kind });
        streamingSessions.inc({ kind, transport, result });
        account();
        this.log.debug({ kind, transport, result }, 'streaming session finished');
      });
  }
}

/**
 * Each read of a plain TCP socket is a fresh buffer of its own, which may be leased (read-leases.ts);
 * a TLS socket's reads are left alone.
 */
function isPlainTcp(socket: Socket): boolean {
  return (socket as { encrypted?: boolean }).encrypted !== true;
}

function kindOf(url: string | undefined): string {
  const m = /^\/(exec|attach|portforward)\//.exec(url ?? '');
  return m ? (m[1] as string) : 'unknown';
}

function headerList(v: string | string[] | undefined): string[] {
  const all = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return all.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

function rawReply(socket: Socket, code: number, reason: string, body: string, extra: Record<string, string> = {}): void {
  const headers = Object.entries({ 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...extra })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${code} ${reason}\r\n${headers}\r\n${body}`);
}
