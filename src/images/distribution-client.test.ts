// The registry client against a scripted registry (one loopback HTTP server playing registry,
// mirror, token server and blob storage): auth challenges and token handling, what each failure
// is reported as (code and message the PullImage caller sees), retries and Retry-After, mirror
// fall-through, redirects, size limits, ranges, stalls and cancellation.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import type { Credentials } from './credentials.js';
import { sha256 } from './digest.js';
import { DistributionClient, MAX_MANIFEST_BYTES, readBody, type RegistrySettings } from './distribution-client.js';
import { parseReference } from './reference.js';

interface Seen {
  method: string;
  path: string;
  auth?: string;
  range?: string;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let port = 0;
let host = '';
let handle: Handler = (_req, res) => res.writeHead(404).end();
const seen: Seen[] = [];
const dir = mkdtempSync(join(tmpdir(), 'nexcage-dist-'));

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization, range: req.headers.range, body });
      handle(req, res, body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  host = `127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  seen.length = 0;
  handle = (_req, res) => res.writeHead(404).end();
});

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
const BLOB = Buffer.from('0123456789abcdefghij');
const BLOB_DIGEST = sha256(BLOB);

function settings(o: Partial<RegistrySettings> = {}): RegistrySettings {
  return { mirrors: {}, insecure: [], caFiles: [], credentialsFile: '', noProgressTimeoutSeconds: 5, ...o };
}

function client(o: Partial<RegistrySettings> = {}, attempts = 3): DistributionClient {
  return new DistributionClient({ settings: settings(o), attempts, backoffMs: 1, log: silentLogger() });
}

function repo(c: DistributionClient, creds?: Credentials) {
  return c.repository(parseReference(`${host}/lib/app:1`), creds);
}

const json = (res: ServerResponse, code: number, doc: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(doc));
};
const distError = (res: ServerResponse, code: number, errCode: string, message: string, headers: Record<string, string> = {}): void =>
  json(res, code, { errors: [{ code: errCode, message }] }, headers);

/** A registry that wants a bearer token from /token (issued for user:pass, or anonymously when `anonymous`). */
function bearerRegistry(o: { anonymous?: boolean; expiresIn?: number } = {}): { tokens: () => number } {
  let issued = 0;
  handle = (req, res) => {
    const path = req.url ?? '';
    if (path.startsWith('/token')) {
      const ok = o.anonymous || req.headers.authorization === `Basic ${Buffer.from('user:pass').toString('base64')}` || req.method === 'POST';
      if (!ok) return json(res, 401, { details: 'bad credentials' });
      issued++;
      return json(res, 200, { token: `tok-${issued}`, ...(o.expiresIn !== undefined ? { expires_in: o.expiresIn } : {}) });
    }
    if (!req.headers.authorization?.startsWith('Bearer tok-') && req.headers.authorization !== 'Bearer given-registry-token') {
      return distError(res, 401, 'UNAUTHORIZED', 'authentication required', {
        'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:lib/app:pull"`,
      });
    }
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
  };
  return { tokens: () => issued };
}

describe('auth', () => {
  it('anonymous pull: the manifest, its digest and the endpoint that served it', async () => {
    handle = (_req, res) => res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
    const m = await repo(client()).getManifest('1');
    expect(m).toEqual({ bytes: MANIFEST, contentType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(MANIFEST), endpoint: `http://${host}` });
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/v2/lib/app/manifests/1', auth: undefined });
  });

  it('bearer: fetches a token with service, scope and the credentials, then caches it for the scope', async () => {
    const reg = bearerRegistry();
    const c = client();
    const r = repo(c, { username: 'user', password: 'pass' });
    await r.getManifest('1');
    const token = seen.find((s) => s.path.startsWith('/token'))!;
    expect(new URL(token.path, 'http://x').searchParams.get('service')).toBe('test-registry');
    expect(new URL(token.path, 'http://x').searchParams.get('scope')).toBe('repository:lib/app:pull');
    expect(seen.at(-1)).toMatchObject({ path: '/v2/lib/app/manifests/1', auth: 'Bearer tok-1' });
    await r.getManifest('2');
    expect(reg.tokens()).toBe(1);
    expect(seen.at(-1)?.auth).toBe('Bearer tok-1');
  });

  it('bearer: an expired token (expires_in) is fetched again', async () => {
    const reg = bearerRegistry({ anonymous: true, expiresIn: 1 });
    const r = repo(client());
    await r.getManifest('1');
    await r.getManifest('1');
    // expires_in 1 s is kept for max(1 - 5, 1) s; past it, a new token.
    expect(reg.tokens()).toBe(1);
    await new Promise((res) => setTimeout(res, 1100));
    await r.getManifest('1');
    expect(reg.tokens()).toBe(2);
  });

  it('bearer: credentials the token server refuses are FAILED_PRECONDITION naming the server', async () => {
    bearerRegistry();
    await expect(repo(client(), { username: 'user', password: 'wrong' }).getManifest('1')).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `registry ${host}: unauthorized: token server http://${host} refused the credentials (401)`,
    });
  });

  it('bearer: an identity token is exchanged by POST (refresh_token grant); a registry token is used as is', async () => {
    bearerRegistry();
    await repo(client(), { identityToken: 'refresh-me' }).getManifest('1');
    const post = seen.find((s) => s.method === 'POST')!;
    expect(Object.fromEntries(new URLSearchParams(post.body))).toEqual({ grant_type: 'refresh_token', refresh_token: 'refresh-me', service: 'test-registry', scope: 'repository:lib/app:pull', client_id: 'nexcage' });
    seen.length = 0;
    await repo(client(), { registryToken: 'given-registry-token' }).getManifest('1');
    expect(seen.some((s) => s.path.startsWith('/token'))).toBe(false);
  });

  it.each([
    ['a realm that is not a URL', 'Bearer realm="not a url"', /token realm "not a url" is not a URL/],
    ['no realm', 'Bearer service="x"', /bearer challenge without a realm/],
  ])('bearer challenge with %s is UNAVAILABLE naming the registry', async (_what, challenge, message) => {
    handle = (_req, res) => distError(res, 401, 'UNAUTHORIZED', 'auth', { 'www-authenticate': challenge });
    await expect(repo(client()).getManifest('1')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(message) });
  });

  it.each([
    ['not JSON', (res: ServerResponse) => res.writeHead(200).end('<html>'), /token server .* answered non-JSON/],
    ['no token in it', (res: ServerResponse) => json(res, 200, { expires_in: 60 }), /token server .* returned no token/],
    ['a 404', (res: ServerResponse) => res.writeHead(404).end('no such realm'), /token server .* answered 404: no such realm/],
  ])('a token server answering %s is UNAVAILABLE', async (_what, answer, message) => {
    handle = (req, res) => {
      if (req.url?.startsWith('/token')) return answer(res);
      distError(res, 401, 'UNAUTHORIZED', 'auth', { 'www-authenticate': `Bearer realm="http://${host}/token"` });
    };
    await expect(repo(client()).getManifest('1')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(message) });
  });

  it('basic: the credentials go in an Authorization header; without any the 401 is FAILED_PRECONDITION saying so', async () => {
    handle = (req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('user:pass').toString('base64')}`) return distError(res, 401, 'UNAUTHORIZED', 'who are you', { 'www-authenticate': 'Basic realm="reg"' });
      res.writeHead(200).end(MANIFEST);
    };
    await expect(repo(client(), { username: 'user', password: 'pass' }).getManifest('1')).resolves.toMatchObject({ digest: sha256(MANIFEST) });
    await expect(repo(client()).getManifest('1')).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `manifest "1" of ${host}/lib/app: unauthorized: ${host} answered 401 (no credentials given): UNAUTHORIZED who are you`,
    });
    await expect(repo(client(), { username: 'user', password: 'nope' }).getManifest('1')).rejects.toThrow(/answered 401 to the given credentials/);
  });

  it('credentials from the credentials file, by host', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ auths: { [`http://${host}/`]: { auth: Buffer.from('user:pass').toString('base64') } } }));
    handle = (req, res) => {
      if (!req.headers.authorization) return distError(res, 401, 'UNAUTHORIZED', 'x', { 'www-authenticate': 'Basic realm="reg"' });
      res.writeHead(200).end(MANIFEST);
    };
    await repo(client({ credentialsFile: file })).getManifest('1');
    expect(seen.at(-1)?.auth).toBe(`Basic ${Buffer.from('user:pass').toString('base64')}`);
  });
});

describe('failures, retries, mirrors', () => {
  it('404 is NOT_FOUND with the registry\'s error code and message', async () => {
    handle = (_req, res) => distError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    await expect(repo(client()).getManifest('nope')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `manifest "nope" of ${host}/lib/app not found at http://${host}: MANIFEST_UNKNOWN manifest unknown`,
    });
  });

  it('5xx and 429 are retried (Retry-After honoured); a persistent one gives up naming the attempts', async () => {
    let n = 0;
    handle = (_req, res) => {
      n++;
      if (n === 1) return distError(res, 503, 'UNAVAILABLE', 'busy');
      if (n === 2) return distError(res, 429, 'TOOMANYREQUESTS', 'slow down', { 'retry-after': '0' });
      res.writeHead(200).end(MANIFEST);
    };
    await expect(repo(client()).getManifest('1')).resolves.toMatchObject({ digest: sha256(MANIFEST) });
    expect(n).toBe(3);
    handle = (_req, res) => res.writeHead(502).end('bad gateway');
    await expect(repo(client({}, 2)).getManifest('1')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: `manifest "1" from http://${host}: gave up after 2 attempts: manifest "1" from http://${host}: HTTP 502`,
    });
  });

  it('an unexpected status is UNAVAILABLE naming it, not retried', async () => {
    handle = (_req, res) => distError(res, 400, 'NAME_INVALID', 'invalid repository name');
    await expect(repo(client()).getManifest('1')).rejects.toThrow(`manifest "1" from http://${host}: unexpected HTTP 400: NAME_INVALID invalid repository name`);
    expect(seen).toHaveLength(1);
  });

  it('a mirror that fails falls through to the registry; the one that worked is tried first next time', async () => {
    handle = (req, res) => {
      if (req.url?.startsWith('/mirror/')) return res.writeHead(500).end();
      res.writeHead(200).end(MANIFEST);
    };
    const c = client({ mirrors: { [host]: [`http://${host}/mirror`] } }, 1);
    const r = repo(c);
    expect((await r.getManifest('1')).endpoint).toBe(`http://${host}`);
    expect(seen.map((s) => s.path)).toEqual(['/mirror/v2/lib/app/manifests/1', '/v2/lib/app/manifests/1']);
    seen.length = 0;
    await r.getManifest('1');
    expect(seen.map((s) => s.path)).toEqual(['/v2/lib/app/manifests/1']);
  });

  it('when every endpoint fails, the last one\'s error says what the mirrors before it answered', async () => {
    handle = (req, res) => {
      if (req.url?.startsWith('/mirror/')) return res.writeHead(500).end();
      distError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    };
    await expect(repo(client({ mirrors: { [host]: [`${host}/mirror/v2/`] } }, 1)).getManifest('1')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(new RegExp(`not found at http://${host}: MANIFEST_UNKNOWN manifest unknown \\(tried before: http://${host}/mirror: .*HTTP 500\\)$`)),
    });
  });

  it('a registry that refuses connections is retried, then UNAVAILABLE', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = client({}, 2).repository(parseReference(`127.0.0.1:${deadPort}/lib/app:1`));
    await expect(r.getManifest('1')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/gave up after 2 attempts: .*ECONNREFUSED/) });
  });

  it('a registry that stops sending is cut after the no-progress timeout: before the headers retried, in the body UNAVAILABLE', async () => {
    handle = () => undefined; // accepts, never answers
    const started = Date.now();
    await expect(repo(client({ noProgressTimeoutSeconds: 0.2 }, 2)).getManifest('1')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/gave up after 2 attempts: GET http:\/\/.*\/v2\/lib\/app\/manifests\/1: no progress for 0 s/),
    });
    expect(seen).toHaveLength(2);
    handle = (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('{"partial":');
    };
    await expect(repo(client({ noProgressTimeoutSeconds: 0.2 }, 2)).getManifest('1')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/^manifest "1" of .*: connection lost while reading: /),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    server.closeAllConnections();
  });

  it('a cancelled pull stops at once and tries nothing more', async () => {
    handle = () => undefined; // never answers
    const ac = new AbortController();
    const p = repo(client({ mirrors: { [host]: [`http://${host}/mirror`] } })).getManifest('1', ac.signal);
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('cancelled, every caller went away') });
    expect(seen).toHaveLength(1);
    server.closeAllConnections();
  });
});

describe('limits, redirects, ranges', () => {
  it('a manifest declared over 4 MiB is INVALID_ARGUMENT without reading it; one that grows past it too', async () => {
    handle = (_req, res) => res.writeHead(200, { 'content-length': String(MAX_MANIFEST_BYTES + 1) }).end();
    await expect(repo(client()).getManifest('1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: `manifest "1" of ${host}/lib/app is ${MAX_MANIFEST_BYTES + 1} bytes, over the ${MAX_MANIFEST_BYTES} byte limit` });
    handle = (_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(MAX_MANIFEST_BYTES + 10, 32));
    };
    await expect(repo(client()).getManifest('1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('is larger than the 4194304 byte limit') });
  });

  it('follows a redirect to blob storage without the registry credentials; more than 5 redirects fail', async () => {
    handle = (req, res) => {
      if (req.url?.startsWith('/v2/')) return res.writeHead(307, { location: `http://localhost:${port}/storage/blob` }).end();
      res.writeHead(200).end(BLOB);
    };
    const b = await repo(client(), { registryToken: 'secret' }).openBlob(BLOB_DIGEST, 0, BLOB.length);
    expect(await readBody(b.body as IncomingMessage, 1000, 'blob')).toEqual(BLOB);
    expect(seen.map((s) => [s.path, s.auth])).toEqual([
      [`/v2/lib/app/blobs/${BLOB_DIGEST}`, undefined],
      ['/storage/blob', undefined],
    ]);
    let hops = 0;
    handle = (_req, res) => res.writeHead(302, { location: `/hop/${++hops}` }).end();
    await expect(repo(client()).openBlob(BLOB_DIGEST, 0, BLOB.length)).rejects.toThrow(/more than 5 redirects/);
  });

  it('resumes a blob with Range: a matching 206 starts there, a 200 (Range ignored) from 0, a wrong range is retried', async () => {
    let mode: 'partial' | 'whole' | 'wrong' | 'unsatisfiable' = 'partial';
    handle = (req, res) => {
      if (mode === 'whole') return res.writeHead(200).end(BLOB);
      if (mode === 'unsatisfiable') return res.writeHead(416).end();
      const from = mode === 'wrong' ? 3 : Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(206, { 'content-range': `bytes ${from}-${BLOB.length - 1}/${BLOB.length}` }).end(BLOB.subarray(from));
    };
    const r = repo(client({}, 2));
    const partial = await r.openBlob(BLOB_DIGEST, 10, BLOB.length);
    expect(seen.at(-1)?.range).toBe(`bytes=10-${BLOB.length - 1}`);
    expect(partial.start).toBe(10);
    expect((await readBody(partial.body as IncomingMessage, 100, 'b')).toString()).toBe('abcdefghij');
    mode = 'whole';
    const whole = await r.openBlob(BLOB_DIGEST, 10, BLOB.length);
    expect(whole.start).toBe(0);
    whole.body.resume();
    mode = 'wrong';
    await expect(r.openBlob(BLOB_DIGEST, 10, BLOB.length)).rejects.toThrow(/asked for bytes from 10, got a range from 3/);
    mode = 'unsatisfiable';
    await expect(r.openBlob(BLOB_DIGEST, 10, BLOB.length)).rejects.toThrow(/range not satisfiable/);
  });

  it('readBody: a body that trickles past its total time is cut (no-progress alone never fires)', async () => {
    handle = (_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => (res.writableEnded ? clearInterval(t) : res.write('.')), 20);
      res.on('close', () => clearInterval(t));
    };
    const b = await repo(client()).openBlob(BLOB_DIGEST, 0, 1);
    await expect(readBody(b.body as IncomingMessage, 1_000_000, 'slow body', 200)).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/^slow body: connection lost while reading: body not complete after 0.2 s/) });
  });
});
