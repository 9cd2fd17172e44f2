// A small HTTP front for the test registry, on 127.0.0.1 with a random port. It forwards to the
// real registry and can (a) count requests, (b) inject faults (an HTTP status such as 503/429, a
// connection dropped after N body bytes, a stall, a slow body), and (c) act as a bearer-token auth server in
// front of it: /token issues tokens for users (basic auth), /v2/* demands them, as Docker Hub does.
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type FaultAction =
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  | { kind: 'drop-after'; bytes: number }
  | { kind: 'stall-after'; bytes: number }
  /** Flip one byte of the body: same length, wrong digest. */
  | { kind: 'corrupt' }
  /** Send the body at this rate (reading upstream no faster); see `throttled`. */
  | { kind: 'throttle'; bytesPerSecond: number };

export interface Fault {
  /** Matched against "METHOD /path". */
  match: RegExp;
  /** How many matching requests it hits. */
  times: number;
  action: FaultAction;
}

export interface ProxyOptions {
  upstream: string;
  token?: { users: Record<string, string>; ttlSeconds?: number };
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
  range?: string;
}

export class RegistryProxy {
  readonly requests: LoggedRequest[] = [];
  readonly faults: Fault[] = [];
  /** Throttled bodies whose connection is still open, and the bytes they have sent. */
  readonly throttled = { open: 0, bytes: 0 };
  tokenRequests = 0;
  /** Bytes of blob bodies passed on from upstream (GET /v2/.../blobs/...). */
  blobBytes = 0;
  private readonly tokens = new Map<string, { scope: string; expires: number }>();
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  port = 0;

  private constructor(private readonly opts: ProxyOptions) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  get url(): string {
    return `http://${this.host}`;
  }

  static async start(opts: ProxyOptions): Promise<RegistryProxy> {
    const p = new RegistryProxy(opts);
    p.server = createServer((req, res) => p.handle(req, res));
    p.server.on('connection', (s) => {
      p.sockets.add(s);
      s.on('close', () => p.sockets.delete(s));
    });
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', () => r()));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  /** Requests whose "METHOD /path" matches. */
  count(re: RegExp): number {
    return this.requests.filter((r) => re.test(`${r.method} ${r.path}`)).length;
  }

  addFault(f: Fault): void {
    this.faults.push(f);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private log(req: IncomingMessage, status: number): void {
    const entry: LoggedRequest = { method: req.method ?? 'GET', path: (req.url ?? '').split('?')[0] as string, status };
    if (req.headers.range) entry.range = req.headers.range;
    this.requests.push(entry);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (this.opts.token && path === '/token') return this.issueToken(req, res);
    if (this.opts.token && !this.authorised(req, path)) {
      const repo = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(path)?.[1];
      const scope = repo ? `,scope="repository:${repo}:pull"` : '';
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${this.url}/token",service="nexcage-test"${scope}`,
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      this.log(req, 401);
      return;
    }
    const fault = this.faults.find((f) => f.times > 0 && f.match.test(`${req.method} ${path}`));
    if (fault) fault.times--;
    if (fault?.action.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.action.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.action.retryAfterSeconds);
      res.writeHead(fault.action.status, headers);
      res.end(JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected ${fault.action.status}` }] }));
      this.log(req, fault.action.status);
      return;
    }
    this.forward(req, res, fault?.action);
  }

  private forward(req: IncomingMessage, res: ServerResponse, action: FaultAction | undefined): void {
    const up = new URL(this.opts.upstream);
    const headers = { ...req.headers };
    if (this.opts.token) delete headers.authorization;
    const upReq = request(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers },
      (upRes) => {
        this.log(req, upRes.statusCode ?? 0);
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')) upRes.on('data', (c: Buffer) => (this.blobBytes += c.length));
        if (action?.kind === 'corrupt') {
          let first = true;
          upRes.on('data', (c: Buffer) => {
            if (first && c.length > 0) {
              c = Buffer.from(c);
              c[0] = (c[0] as number) ^ 0xff;
              first = false;
            }
            res.write(c);
          });
          upRes.on('end', () => res.end());
          return;
        }
        if (action?.kind === 'throttle') return this.throttle(upRes, res, action.bytesPerSecond);
        if (!action || (action.kind !== 'drop-after' && action.kind !== 'stall-after')) {
          upRes.pipe(res);
          return;
        }
        let sent = 0;
        upRes.on('data', (c: Buffer) => {
          if (sent >= action.bytes) return;
          const take = c.subarray(0, action.bytes - sent);
          sent += take.length;
          res.write(take);
          if (sent >= action.bytes) {
            upRes.destroy();
            // drop-after cuts the connection; stall-after keeps it open and silent.
            if (action.kind === 'drop-after') res.socket?.destroy();
          }
        });
      },
    );
    upReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upReq);
  }

  /** Pass `upRes` on in 50 ms slices of the rate; stop (and count it closed) when the client goes. */
  private throttle(upRes: IncomingMessage, res: ServerResponse, bytesPerSecond: number): void {
    const slice = Math.max(1, Math.floor(bytesPerSecond / 20));
    const queue: Buffer[] = [];
    let queued = 0;
    let ended = false;
    this.throttled.open++;
    upRes.on('data', (c: Buffer) => {
      queue.push(c);
      queued += c.length;
      if (queued > 4 * slice + 65536) upRes.pause();
    });
    upRes.on('end', () => (ended = true));
    const timer = setInterval(() => {
      let budget = slice;
      while (budget > 0 && queue.length > 0) {
        const c = queue[0] as Buffer;
        const take = c.subarray(0, budget);
        res.write(take);
        this.throttled.bytes += take.length;
        budget -= take.length;
        queued -= take.length;
        if (take.length === c.length) queue.shift();
        else queue[0] = c.subarray(take.length);
      }
      if (queued < 65536 && upRes.isPaused()) upRes.resume();
      if (ended && queue.length === 0) {
        clearInterval(timer);
        res.end();
      }
    }, 50);
    res.on('close', () => {
      clearInterval(timer);
      upRes.destroy();
      this.throttled.open--;
    });
  }

  /** Refresh tokens (docker "identitytoken") accepted by POST /token, mapped to their user. */
  readonly refreshTokens = new Map<string, string>();

  private issueToken(req: IncomingMessage, res: ServerResponse): void {
    this.tokenRequests++;
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant: form body with grant_type, refresh_token, service, scope.
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        if (form.get('grant_type') !== 'refresh_token' || !this.refreshTokens.has(form.get('refresh_token') ?? '')) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ details: 'bad refresh token' }));
          this.log(req, 401);
          return;
        }
        this.grant(req, res, form.get('scope') ?? '', 'access_token');
      });
      return;
    }
    const url = new URL(req.url ?? '/', this.url);
    const auth = req.headers.authorization ?? '';
    const m = /^Basic (.+)$/.exec(auth);
    const [user, pass] = m ? Buffer.from(m[1] as string, 'base64').toString().split(':') : [];
    const users = this.opts.token?.users ?? {};
    if (!user || users[user] === undefined || users[user] !== pass) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'bad credentials' }));
      this.log(req, 401);
      return;
    }
    this.grant(req, res, url.searchParams.get('scope') ?? '', 'token');
  }

  private grant(req: IncomingMessage, res: ServerResponse, scope: string, field: 'token' | 'access_token'): void {
    const token = randomBytes(16).toString('hex');
    const ttl = this.opts.token?.ttlSeconds ?? 300;
    this.tokens.set(token, { scope, expires: Date.now() + ttl * 1000 });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ [field]: token, expires_in: ttl, issued_at: new Date().toISOString() }));
    this.log(req, 200);
  }

  private authorised(req: IncomingMessage, path: string): boolean {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const t = m ? this.tokens.get(m[1] as string) : undefined;
    if (!t || t.expires < Date.now()) return false;
    if (path === '/v2/' || path === '/v2') return true;
    const repo = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(path)?.[1];
    return repo !== undefined && t.scope.split(' ').some((s) => s === `repository:${repo}:pull` || s.startsWith(`repository:${repo}:`));
  }
}
