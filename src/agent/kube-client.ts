// A minimal Kubernetes REST client: the agent makes a handful of JSON calls a minute, and the
// official client (with its generated models for the whole API) cost ~55 MB of the agent's RSS.
// Connection settings come from the pod's service account (in-cluster) or from a kubeconfig file
// (server, CA, TLS verification, bearer token or token file, client certificate, basic auth).
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, RequestOptions as HttpRequestOptions, ClientRequest } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../lib/errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConnection {
  /** https://host:port (or http:// for a local test server). */
  server: string;
  ca?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  cert?: Buffer;
  key?: Buffer;
  /** A fixed bearer token, or a file re-read as it rotates (bound service account tokens do). */
  token?: string;
  tokenFile?: string;
  basicAuth?: { username: string; password: string };
}

/** An answer other than 2xx: the HTTP status and the API's Status message when there is one. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    what: string,
  ) {
    super(`HTTP ${code}${statusMessage(body) ? `: ${statusMessage(body)}` : ''} (${what})`);
    this.name = 'KubeApiError';
  }
}

function statusMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not a Status object
  }
  return body.trim().slice(0, 300);
}

/** The pod's service account, as client-go's rest.InClusterConfig reads it. */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new ConfigError('not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no --kubeconfig given');
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let ca: Buffer;
  try {
    ca = readFileSync(`${dir}/ca.crt`);
    readFileSync(`${dir}/token`);
  } catch (err) {
    throw new ConfigError(`service account files in ${dir} cannot be read: ${(err as Error).message}`);
  }
  return { server, ca, tokenFile: `${dir}/token` };
}

type Named<T> = { name?: string } & T;

/** JSON (a YAML subset kubectl writes too) without the YAML parser, which costs the agent ~3 MB. */
function parseKubeconfig(text: string): unknown {
  if (/^\s*\{/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // not plain JSON after all: the YAML parser will say what is wrong
    }
  }
  const yaml = process.getBuiltinModule('node:module').createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text);
}

/** The current context of a kubeconfig file. Exec and auth-provider plugins are not supported. */
export function kubeconfigConnection(path: string): KubeConnection {
  let doc: {
    'current-context'?: string;
    contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
    clusters?: Named<{ cluster?: Record<string, unknown> }>[];
    users?: Named<{ user?: Record<string, unknown> }>[];
  };
  try {
    doc = (parseKubeconfig(readFileSync(path, 'utf8')) ?? {}) as typeof doc;
  } catch (err) {
    throw new ConfigError(`kubeconfig ${path}: ${(err as Error).message}`);
  }
  const where = `kubeconfig ${path}`;
  const ctxName = doc['current-context'];
  const ctx = (doc.contexts ?? []).find((c) => c.name === ctxName)?.context ?? (ctxName === undefined ? doc.contexts?.[0]?.context : undefined);
  if (!ctx) throw new ConfigError(`${where}: context "${ctxName ?? ''}" not found`);
  const cluster = (doc.clusters ?? []).find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string') throw new ConfigError(`${where}: cluster "${ctx.cluster ?? ''}" not found or has no server`);
  const user = (doc.users ?? []).find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) throw new ConfigError(`${where}: user "${ctx.user ?? ''}" uses an exec/auth-provider plugin, which the agent does not support; use a token or client certificate`);
  const base = dirname(resolve(path));
  const file = (v: unknown): Buffer | undefined => (typeof v === 'string' && v !== '' ? readFileSync(resolve(base, v)) : undefined);
  const data = (v: unknown): Buffer | undefined => (typeof v === 'string' && v !== '' ? Buffer.from(v, 'base64') : undefined);
  const conn: KubeConnection = { server: cluster.server.replace(/\/+$/, '') };
  const ca = data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']);
  if (ca) conn.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) conn.insecureSkipTlsVerify = true;
  if (typeof cluster['tls-server-name'] === 'string') conn.tlsServerName = cluster['tls-server-name'];
  const cert = data(user['client-certificate-data']) ?? file(user['client-certificate']);
  const key = data(user['client-key-data']) ?? file(user['client-key']);
  if (cert) conn.cert = cert;
  if (key) conn.key = key;
  if (typeof user.token === 'string' && user.token !== '') conn.token = user.token;
  else if (typeof user.tokenFile === 'string' && user.tokenFile !== '') conn.tokenFile = resolve(base, user.tokenFile);
  if (typeof user.username === 'string' && typeof user.password === 'string') conn.basicAuth = { username: user.username, password: user.password };
  return conn;
}

export interface RequestOptions {
  /** Body sent as JSON with this content type (application/json unless told). */
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** Token files are re-read at most this often (kubelet rotates bound tokens well before expiry). */
const TOKEN_REFRESH_MS = 60_000;

/**
 * node:http(s).request, taken with process.getBuiltinModule: an ESM import of node:http builds its
 * module namespace, whose lazy WebSocket/fetch getters load undici (~10 MB of RSS unused here).
 */
function sender(url: URL): (url: URL, options: HttpRequestOptions, cb: (res: IncomingMessage) => void) => ClientRequest {
  return process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http').request;
}

export class KubeClient {
  private readonly agent: HttpsAgent | undefined;
  private token: { value: string; readAt: number } | undefined;

  constructor(private readonly conn: KubeConnection) {
    if (conn.server.startsWith('https://')) {
      this.agent = new (process.getBuiltinModule('node:https').Agent)({
        keepAlive: true,
        maxSockets: 4,
        ...(conn.ca ? { ca: conn.ca } : {}),
        ...(conn.cert ? { cert: conn.cert } : {}),
        ...(conn.key ? { key: conn.key } : {}),
        ...(conn.tlsServerName ? { servername: conn.tlsServerName } : {}),
        rejectUnauthorized: conn.insecureSkipTlsVerify !== true,
      });
    } else if (!conn.server.startsWith('http://')) {
      throw new ConfigError(`API server "${conn.server}" must be an https:// (or http://) URL`);
    }
  }

  /** One call; resolves with the parsed JSON body (undefined for an empty one), rejects with KubeApiError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'nexcage-agent' };
    const auth = this.authorization();
    if (auth) headers.authorization = auth;
    let payload: Buffer | undefined;
    if (options.body !== undefined) {
      payload = Buffer.from(JSON.stringify(options.body));
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const url = new URL(path, `${this.conn.server}/`);
    const { status, body } = await new Promise<{ status: number; body: string; headers: IncomingHttpHeaders }>((resolvePromise, reject) => {
      const send = sender(url);
      const req = send(url, { method, headers, ...(this.agent ? { agent: this.agent } : {}), timeout: options.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${options.timeoutMs ?? 30_000} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
    if (status < 200 || status >= 300) throw new KubeApiError(status, body, `${method} ${url.pathname}`);
    return (body.trim() === '' ? undefined : JSON.parse(body)) as T;
  }

  /** A long GET (a watch): resolves with the 2xx response for the caller to read; `signal` ends it. */
  stream(path: string, signal: AbortSignal): Promise<IncomingMessage> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'nexcage-agent' };
    const auth = this.authorization();
    if (auth) headers.authorization = auth;
    const url = new URL(path, `${this.conn.server}/`);
    return new Promise((resolvePromise, reject) => {
      const send = sender(url);
      const req = send(url, { method: 'GET', headers, signal, ...(this.agent ? { agent: this.agent } : {}) }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolvePromise(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(new KubeApiError(status, Buffer.concat(chunks).toString('utf8'), `GET ${url.pathname}`)));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent?.destroy();
  }

  private authorization(): string | undefined {
    if (this.conn.token) return `Bearer ${this.conn.token}`;
    if (this.conn.tokenFile) {
      const now = Date.now();
      if (!this.token || now - this.token.readAt > TOKEN_REFRESH_MS) {
        try {
          this.token = { value: readFileSync(this.conn.tokenFile, 'utf8').trim(), readAt: now };
        } catch (err) {
          // Keep the last token we had: the file is replaced atomically, a read can race the swap.
          if (!this.token) throw new ConfigError(`token file ${this.conn.tokenFile} cannot be read: ${(err as Error).message}`);
        }
      }
      return `Bearer ${this.token.value}`;
    }
    if (this.conn.basicAuth) return `Basic ${Buffer.from(`${this.conn.basicAuth.username}:${this.conn.basicAuth.password}`).toString('base64')}`;
    return undefined;
  }
}
