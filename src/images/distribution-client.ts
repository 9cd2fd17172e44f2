// RegistryClient over the OCI distribution API (v2): endpoints in mirror order, bearer-token and
// basic auth from the WWW-Authenticate challenge (tokens cached per scope until expiry), retries
// with backoff on connection errors, 5xx and 429 (Retry-After honoured), redirects, and a
// no-progress timeout on the socket instead of a total timeout. Every request takes an AbortSignal:
// when the pull's callers have all gone, open requests are destroyed and no retry follows.
import { readFileSync } from 'node:fs';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NexcageError,
  NotFoundError,
  UnavailableError,
  errorMessage,
} from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { parseChallenge, type Challenge } from './auth-challenge.js';
import { cancelledError, sleep, throwIfAborted } from './cancellation.js';
import { credentialsFor, CredentialsFile, type Credentials } from './credentials.js';
import { sha256 } from './digest.js';
import { endpointsFor, type Endpoint, type EndpointConfig } from './endpoints.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import type { ImageReference } from './reference.js';
import type { BlobResponse, ManifestResponse, RegistryClient, RepositoryClient } from './registry-client.js';

// Loaded as CommonJS: an ESM import of node:http evaluates every export, and its lazy WebSocket/fetch
// getters load undici (~3 MB of RSS the daemon never uses).
const { Agent: HttpAgent, request: httpRequest } = process.getBuiltinModule('node:http');

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const MAX_RETRY_AFTER_MS = 60_000;

/** The registry settings; read on every use, so a config reload that edits this object takes effect. */
export interface RegistrySettings extends EndpointConfig {
  caFiles: string[];
  credentialsFile: string;
  noProgressTimeoutSeconds: number;
}

export interface DistributionClientOptions {
  settings: RegistrySettings;
  /** Attempts per request on retryable failures (connection errors, 5xx, 429). */
  attempts?: number;
  /** First backoff delay; doubles per attempt. */
  backoffMs?: number;
  log: Logger;
}

/** Marks a failure worth another attempt (connection reset, 5xx, 429, no progress). */
export class RetryableError extends UnavailableError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class DistributionClient implements RegistryClient {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  private https: HttpsAgent;
  private caKey = '';
  private credentialsFile: CredentialsFile;
  private readonly httpsInsecure: HttpsAgent;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly challenges = new Map<string, Challenge>();
  readonly attempts: number;
  readonly backoffMs: number;

  constructor(private readonly opts: DistributionClientOptions) {
    this.https = this.httpsAgent();
    this.credentialsFile = new CredentialsFile(opts.settings.credentialsFile);
    this.httpsInsecure = new HttpsAgent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
    this.attempts = opts.attempts ?? 5;
    this.backoffMs = opts.backoffMs ?? 250;
  }

  repository(ref: ImageReference, credentials?: Credentials): RepositoryClient {
    return new DistributionRepository(this, ref, credentials, endpointsFor(ref.registry, this.opts.settings));
  }

  /** TLS agent trusting the system CAs plus the configured CA files (rebuilt when they change). */
  private httpsAgent(): HttpsAgent {
    const files = this.opts.settings.caFiles;
    const key = JSON.stringify(files);
    if (this.https && key === this.caKey) return this.https;
    const ca = [...rootCertificates, ...files.map((f) => readFileSync(f, 'utf8'))];
    this.https?.destroy();
    this.caKey = key;
    this.https = new HttpsAgent({ keepAlive: true, maxSockets: 16, ca });
    return this.https;
  }

  /** Also the limit for a whole small body (manifest, token) to arrive. */
  get noProgressTimeoutMs(): number {
    return this.opts.settings.noProgressTimeoutSeconds * 1000;
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
    this.httpsInsecure.destroy();
  }

  fileCredentials(host: string): Promise<Credentials | undefined> {
    if (this.opts.settings.credentialsFile !== this.credentialsFile.path) this.credentialsFile = new CredentialsFile(this.opts.settings.credentialsFile);
    return this.credentialsFile.lookup(host);
  }

  get log(): Logger {
    return this.opts.log;
  }

  /** One HTTP exchange with redirects followed; no retries, no auth. Resolves at response headers. */
  async exchange(ep: Endpoint, url: string, method: string, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    let target = new URL(url);
    const originHost = target.host;
    for (let hop = 0; ; hop++) {
      const res = await this.once(ep, target, method, headers, signal);
      const loc = res.headers.location;
      if (res.statusCode && [301, 302, 303, 307, 308].includes(res.statusCode) && loc) {
        res.resume();
        if (hop >= MAX_REDIRECTS) throw new UnavailableError(`${method} ${url}: more than ${MAX_REDIRECTS} redirects`);
        target = new URL(loc, target);
        // Credentials are for the registry; a redirect to blob storage must not carry them.
        if (target.host !== originHost) delete headers.authorization;
        continue;
      }
      return res;
    }
  }

  private once(ep: Endpoint, url: URL, method: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    const https = url.protocol === 'https:';
    const agent = https ? (ep.skipVerify ? this.httpsInsecure : this.httpsAgent()) : this.http;
    const doRequest = https ? httpsRequest : httpRequest;
    const timeoutMs = this.noProgressTimeoutMs;
    return new Promise((resolve, reject) => {
      // The signal destroys the request and its socket, also while the body is being read.
      const req = doRequest(url, { method, headers: { 'user-agent': 'nexcage', ...headers }, agent, ...(signal ? { signal } : {}) }, (res) => {
        // The idle timer keeps running while the body streams: no byte for timeoutMs fails the body.
        resolve(res);
      });
      req.setTimeout(timeoutMs, () => {
        req.destroy(new RetryableError(`${method} ${url.href}: no progress for ${Math.round(timeoutMs / 1000)} s`));
      });
      req.once('socket', (socket: Socket) => freeReadsAfterParsing(socket, req));
      req.on('error', (err) => {
        if (signal?.aborted) reject(cancelledError(`${method} ${url.href}`));
        else if (err instanceof NexcageError) reject(err);
        // A certificate problem will not go away by asking again.
        else if (isTlsTrustError(err)) reject(new UnavailableError(`${method} ${url.href}: TLS: ${errorMessage(err)} (configure registry.caFiles, or registry.insecure for this host)`));
        else reject(new RetryableError(`${method} ${url.href}: ${errorMessage(err)}`));
      });
      req.end();
    });
  }

  /** The Authorization header for a request to this endpoint, from its last challenge. */
  async authorization(ep: Endpoint, scope: string, creds: Credentials | undefined, refresh: boolean, signal?: AbortSignal): Promise<string | undefined> {
    const ch = this.challenges.get(ep.base);
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      if (!creds?.username) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const realm = ch.params.realm;
    if (!realm) throw new UnavailableError(`registry ${ep.host}: bearer challenge without a realm`);
    const service = ch.params.service ?? '';
    const key = `${realm}|${service}|${scope}|${creds?.username ?? ''}|${creds?.identityToken ? 'id' : ''}`;
    const cached = this.tokens.get(key);
    if (!refresh && cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const token = await this.fetchToken(ep, realm, service, scope, creds, signal);
    this.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  rememberChallenge(ep: Endpoint, header: string | string[] | undefined): Challenge | undefined {
    const ch = parseChallenge(Array.isArray(header) ? header[0] : header);
    if (ch) this.challenges.set(ep.base, ch);
    return ch;
  }

  private async fetchToken(ep: Endpoint, realm: string, service: string, scope: string, creds: Credentials | undefined, signal: AbortSignal | undefined): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UnavailableError(`registry ${ep.host}: token realm "${realm}" is not a URL`);
    }
    const headers: Record<string, string> = {};
    let method = 'GET';
    let body: string | undefined;
    if (creds?.identityToken) {
      method = 'POST';
      body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, service, scope, client_id: 'nexcage' }).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service) url.searchParams.set('service', service);
      if (scope) url.searchParams.set('scope', scope);
      if (creds?.username) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    const res = await this.withRetries(
      `token from ${url.origin}`,
      async () => {
        const r = await this.sendWithBody(ep, url, method, headers, body, signal);
        if (r.statusCode === 429 || (r.statusCode ?? 0) >= 500) {
          r.resume();
          throw new RetryableError(`token server ${url.origin} answered ${r.statusCode}`, retryAfter(r));
        }
        return r;
      },
      signal,
    );
    const text = await readBody(res, 1024 * 1024, `token from ${url.origin}`, this.noProgressTimeoutMs);
    throwIfAborted(signal, `token from ${url.origin}`);
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new FailedPreconditionError(`registry ${ep.host}: unauthorized: token server ${url.origin} refused the credentials (${res.statusCode})`);
    }
    if (res.statusCode !== 200) throw new UnavailableError(`registry ${ep.host}: token server ${url.origin} answered ${res.statusCode}: ${text.toString().slice(0, 200)}`);
    let doc: { token?: string; access_token?: string; expires_in?: number };
    try {
      doc = JSON.parse(text.toString()) as typeof doc;
    } catch {
      throw new UnavailableError(`registry ${ep.host}: token server ${url.origin} answered non-JSON`);
    }
    const token = doc.token ?? doc.access_token;
    if (!token) throw new UnavailableError(`registry ${ep.host}: token server ${url.origin} returned no token`);
    const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    return { token, expiresAt: Date.now() + Math.max(ttl - 5, 1) * 1000 };
  }

  private sendWithBody(ep: Endpoint, url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    if (body === undefined) return this.exchange(ep, url.href, method, headers, signal);
    const https = url.protocol === 'https:';
    const agent = https ? (ep.skipVerify ? this.httpsInsecure : this.httpsAgent()) : this.http;
    const doRequest = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = doRequest(
        url,
        { method, headers: { 'user-agent': 'nexcage', ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent, ...(signal ? { signal } : {}) },
        resolve,
      );
      req.setTimeout(this.noProgressTimeoutMs, () => req.destroy(new RetryableError(`${method} ${url.href}: no progress`)));
      req.on('error', (err) => {
        if (signal?.aborted) reject(cancelledError(`${method} ${url.href}`));
        else reject(err instanceof NexcageError ? err : new RetryableError(`${method} ${url.href}: ${errorMessage(err)}`));
      });
      req.end(body);
    });
  }

  /** Run `fn` until it succeeds or fails with a non-retryable error, backing off between tries. */
  async withRetries<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      throwIfAborted(signal, what);
      try {
        return await fn();
      } catch (err) {
        throwIfAborted(signal, what);
        if (!(err instanceof RetryableError)) throw err;
        last = err;
        if (attempt === this.attempts) break;
        const delay = err.retryAfterMs ?? this.backoffMs * 2 ** (attempt - 1);
        this.log.debug({ what, attempt, delayMs: delay, error: err.message }, 'registry request failed, retrying');
        await sleep(delay, signal);
      }
    }
    throw new UnavailableError(`${what}: gave up after ${this.attempts} attempts: ${errorMessage(last)}`);
  }
}

class DistributionRepository implements RepositoryClient {
  private preferred = 0;
  private readonly scope: string;

  constructor(
    private readonly client: DistributionClient,
    private readonly ref: ImageReference,
    private readonly creds: Credentials | undefined,
    private readonly endpoints: Endpoint[],
  ) {
    this.scope = `repository:${ref.repository}:pull`;
  }

  async getManifest(reference: string, signal?: AbortSignal): Promise<ManifestResponse> {
    return this.acrossEndpoints(`manifest ${this.ref.repository}:${reference}`, signal, async (ep) => {
      const res = await this.request(ep, 'GET', `manifests/${reference}`, { accept: MANIFEST_ACCEPT }, `manifest "${reference}"`, signal);
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > MAX_MANIFEST_BYTES) {
        res.destroy();
        throw new InvalidArgumentError(`manifest "${reference}" of ${this.name()} is ${declared} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`);
      }
      const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest "${reference}" of ${this.name()}`, this.client.noProgressTimeoutMs);
      return { bytes, contentType: res.headers['content-type'], digest: sha256(bytes), endpoint: ep.base };
    });
  }

  async openBlob(digest: string, offset: number, expectedSize: number, signal?: AbortSignal): Promise<BlobResponse> {
    return this.acrossEndpoints(`blob ${digest}`, signal, async (ep) => {
      const headers: Record<string, string> = {};
      if (offset > 0) headers.range = `bytes=${offset}-${expectedSize - 1}`;
      const res = await this.request(ep, 'GET', `blobs/${digest}`, headers, `blob ${digest}`, signal);
      if (res.statusCode === 206) {
        const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        const start = m ? Number(m[1]) : offset;
        if (start !== offset) {
          res.destroy();
          throw new RetryableError(`blob ${digest}: asked for bytes from ${offset}, got a range from ${start}`);
        }
        return { body: res, start, endpoint: ep.base };
      }
      return { body: res, start: 0, endpoint: ep.base };
    });
  }

  private name(): string {
    return `${this.ref.registry}/${this.ref.repository}`;
  }

  /** Try each endpoint (the last good one first); a mirror's failure falls through to the next. */
  private async acrossEndpoints<T>(what: string, signal: AbortSignal | undefined, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    const order = [this.preferred, ...this.endpoints.keys()].filter((v, i, a) => a.indexOf(v) === i);
    const earlier: string[] = [];
    for (const i of order) {
      const ep = this.endpoints[i] as Endpoint;
      try {
        const out = await fn(ep);
        this.preferred = i;
        return out;
      } catch (err) {
        const isLast = i === order[order.length - 1];
        // A cancelled pull tries no mirror after this one.
        throwIfAborted(signal, what);
        if (err instanceof InvalidArgumentError) throw err;
        if (isLast) {
          // Keep the last endpoint's kind of error, but say what the mirrors before it answered.
          if (earlier.length > 0 && err instanceof NexcageError) {
            const Kind = err.constructor as new (m: string) => NexcageError;
            throw new Kind(`${err.message} (tried before: ${earlier.join('; ')})`);
          }
          throw err;
        }
        earlier.push(`${ep.base}: ${errorMessage(err)}`);
        this.client.log.info({ endpoint: ep.base, what, error: errorMessage(err) }, 'registry endpoint failed, trying the next');
      }
    }
    throw new UnavailableError(`${what}: no registry endpoint to try`);
  }

  /** A GET with auth and retries; resolves with a 2xx response whose body is unread. */
  private async request(ep: Endpoint, method: string, path: string, headers: Record<string, string>, what: string, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    const url = `${ep.base}/v2/${this.ref.repository}/${path}`;
    const creds = credentialsFor(this.creds, ep.host, this.ref.registry) ?? (await this.client.fileCredentials(ep.host));
    return this.client.withRetries(`${what} from ${ep.base}`, async () => {
      let auth = await this.client.authorization(ep, this.scope, creds, false, signal);
      for (let round = 0; ; round++) {
        const h = { ...headers };
        if (auth) h.authorization = auth;
        const res = await this.client.exchange(ep, url, method, h, signal);
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) return res;
        const body = (await readBody(res, 64 * 1024, what).catch(() => Buffer.alloc(0))).toString().slice(0, 300);
        if (code === 401 && round === 0) {
          const ch = this.client.rememberChallenge(ep, res.headers['www-authenticate']);
          if (ch) {
            auth = await this.client.authorization(ep, this.scope, creds, true, signal);
            if (auth) continue;
          }
        }
        if (code === 401 || code === 403) {
          throw new FailedPreconditionError(
            `${what} of ${this.name()}: unauthorized: ${ep.host} answered ${code}${creds ? ' to the given credentials' : ' (no credentials given)'}${errorDetail(body)}`,
          );
        }
        if (code === 404) throw new NotFoundError(`${what} of ${this.name()} not found at ${ep.base}${errorDetail(body)}`);
        if (code === 429 || code >= 500) throw new RetryableError(`${what} from ${ep.base}: HTTP ${code}${errorDetail(body)}`, retryAfter(res));
        if (code === 416) throw new RetryableError(`${what} from ${ep.base}: range not satisfiable`);
        throw new UnavailableError(`${what} from ${ep.base}: unexpected HTTP ${code}${errorDetail(body)}`);
      }
    }, signal);
  }
}

/**
 * Free each buffer read from the socket once the HTTP parser has gone through it (it copies body
 * bytes out into fresh chunks): else a blob's worth of spent reads waits in the process for the
 * garbage collector. Attached for one request and only behind the parser's own listener, so a
 * read is never freed before it is parsed; only a buffer that is the whole of its memory is freed.
 */
function freeReadsAfterParsing(socket: Socket, req: ClientRequest): void {
  const free = (d: unknown): void => {
    const listeners = socket.rawListeners('data');
    if (listeners.length < 2 || listeners[listeners.length - 1] !== free) return;
    if (!Buffer.isBuffer(d)) return;
    const ab = d.buffer;
    if (ab instanceof ArrayBuffer && d.byteOffset === 0 && d.byteLength === ab.byteLength) ab.transfer(0);
  };
  socket.on('data', free);
  req.once('close', () => socket.off('data', free));
}

function isTlsTrustError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code);
}

function errorDetail(body: string): string {
  try {
    const doc = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    const e = doc.errors?.[0];
    if (e) return `: ${e.code ?? ''} ${e.message ?? ''}`.trimEnd();
  } catch {
    // not a distribution error document
  }
  return '';
}

function retryAfter(res: IncomingMessage): number | undefined {
  const h = res.headers['retry-after'];
  if (!h) return undefined;
  const secs = Number(h);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(h) - Date.now();
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/**
 * Read a whole (small) body, refusing more than `max` bytes. With `totalMs`, the body must be
 * complete by then: a registry trickling a byte now and then never trips the no-progress timeout,
 * and held a pull (and its socket) forever.
 */
export async function readBody(res: IncomingMessage, max: number, what: string, totalMs = 0): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  const timer = totalMs > 0 ? setTimeout(() => res.destroy(new Error(`body not complete after ${totalMs / 1000} s (${n} bytes so far)`)), totalMs) : undefined;
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > max) {
        res.destroy();
        throw new InvalidArgumentError(`${what} is larger than the ${max} byte limit`);
      }
      chunks.push(c);
    }
  } catch (err) {
    if (err instanceof NexcageError) throw err;
    throw new RetryableError(`${what}: connection lost while reading: ${errorMessage(err)}`);
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks);
}

