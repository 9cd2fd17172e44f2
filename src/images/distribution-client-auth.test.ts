// The registry client against scripted registries on loopback (plain HTTP, and HTTPS with a test
// CA): broken auth challenges and token servers, what TLS trust problems are reported as and how
// caFiles/insecure fix them, Retry-After forms, 416, and error bodies that are not distribution
// error documents. The user sees these as the PullImage error: each must say what went wrong.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa } from '../../test/support/registry.js';
import { FailedPreconditionError, NotFoundError, UnavailableError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { sha256 } from './digest.js';
import { DistributionClient, type RegistrySettings } from './distribution-client.js';
import { parseReference } from './reference.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const dir = mkdtempSync(join(tmpdir(), 'nexcage-dist-auth-'));
let handle: Handler = (_req, res) => res.writeHead(404).end();
const seen: { method: string; path: string; auth?: string; body: string }[] = [];
let http: Server;
let https: Server;
let host = '';
let tlsHost = '';
let ca = '';
const clients: DistributionClient[] = [];

function serve(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization, body });
    handle(req, res, body);
  });
}

beforeAll(async () => {
  const tls = makeTestCa(dir);
  ca = tls.ca;
  http = createServer(serve).listen(0, '127.0.0.1');
  https = createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, serve).listen(0, '127.0.0.1');
  await Promise.all([once(http, 'listening'), once(https, 'listening')]);
  host = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  tlsHost = `127.0.0.1:${(https.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of [http, https]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  seen.length = 0;
  handle = (_req, res) => res.writeHead(404).end();
});

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));

function client(o: Partial<RegistrySettings> = {}, attempts = 2): DistributionClient {
  const c = new DistributionClient({ settings: { mirrors: {}, insecure: [], caFiles: [], credentialsFile: '', noProgressTimeoutSeconds: 5, ...o }, attempts, backoffMs: 1, log: silentLogger() });
  clients.push(c);
  return c;
}

const json = (res: ServerResponse, code: number, doc: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(doc));
};

/** A registry that challenges with `challenge` and accepts `Bearer good`; /token answers with `token`. */
function challenging(challenge: string, token: (req: IncomingMessage, res: ServerResponse, body: string) => void): void {
  handle = (req, res, body) => {
    if ((req.url ?? '').startsWith('/token')) return token(req, res, body);
    if (req.headers.authorization !== 'Bearer good') return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'www-authenticate': challenge });
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
  };
}

async function pullError(c: DistributionClient, ref = `${host}/lib/app:1`): Promise<Error> {
  const r = parseReference(ref);
  return (await c.repository(r).getManifest(r.tag ?? 'latest').catch((e: unknown) => e)) as Error;
}

describe('broken auth', () => {
  it('a bearer challenge without a realm, or with a realm that is not a URL, is UNAVAILABLE saying so', async () => {
    challenging('Bearer service="x"', (_q, res) => json(res, 200, { token: 'good' }));
    const a = await pullError(client());
    expect(a).toBeInstanceOf(UnavailableError);
    expect(a.message).toContain(`registry ${host}: bearer challenge without a realm`);
    challenging('Bearer realm="not a url"', (_q, res) => json(res, 200, { token: 'good' }));
    expect((await pullError(client())).message).toContain('token realm "not a url" is not a URL');
  });

  it('a token server that answers non-JSON, no token, or an error status is UNAVAILABLE naming it', async () => {
    const realm = `Bearer realm="http://${host}/token",service="reg"`;
    challenging(realm, (_q, res) => res.writeHead(200).end('<html>login</html>'));
    expect((await pullError(client())).message).toContain(`token server http://${host} answered non-JSON`);
    challenging(realm, (_q, res) => json(res, 200, { expires_in: 300 }));
    expect((await pullError(client())).message).toContain('returned no token');
    challenging(realm, (_q, res) => res.writeHead(404).end('no such realm'));
    const e = await pullError(client());
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toContain(`token server http://${host} answered 404: no such realm`);
  });

  it('a token server that fails with 5xx is retried; access_token is accepted as the token', async () => {
    let calls = 0;
    challenging(`Bearer realm="http://${host}/token"`, (_q, res) => {
      if (++calls === 1) return res.writeHead(503).end();
      json(res, 200, { access_token: 'good' });
    });
    const r = parseReference(`${host}/lib/app:1`);
    const m = await client().repository(r).getManifest('1');
    expect(m.bytes).toEqual(MANIFEST);
    expect(calls).toBe(2);
    // Without service or scope in the challenge, the token request carries the repository scope only.
    expect(seen.find((s) => s.path.startsWith('/token'))?.path).toBe('/token?scope=repository%3Alib%2Fapp%3Apull');
  });

  it('a token server always failing with 5xx gives up naming the attempts', async () => {
    challenging(`Bearer realm="http://${host}/token"`, (_q, res) => res.writeHead(502).end());
    const e = await pullError(client({}, 2));
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toMatch(/gave up after 2 attempts: .*token server http:\/\/127\.0\.0\.1:\d+ answered 502/);
  });

  it('a 401 without a usable challenge is FAILED_PRECONDITION, with the registry\'s message', async () => {
    handle = (_req, res) => json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'who are you' }] }, { 'www-authenticate': 'Negotiate abc' });
    const e = await pullError(client());
    expect(e).toBeInstanceOf(FailedPreconditionError);
    expect(e.message).toMatch(/unauthorized: 127\.0\.0\.1:\d+ answered 401 \(no credentials given\): UNAUTHORIZED who are you$/);
    // A 403 says the same, whatever the body.
    handle = (_req, res) => res.writeHead(403).end('<html>forbidden</html>');
    const f = await pullError(client());
    expect(f).toBeInstanceOf(FailedPreconditionError);
    expect(f.message).toMatch(/answered 403 \(no credentials given\)$/);
  });

  it('re-reads the credentials file when the setting names another file', async () => {
    const file = (name: string, user: string): string => {
      const p = join(dir, name);
      writeFileSync(p, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:pw`).toString('base64') } } }));
      return p;
    };
    const settings: RegistrySettings = { mirrors: {}, insecure: [], caFiles: [], credentialsFile: file('a.json', 'alice'), noProgressTimeoutSeconds: 5 };
    const c = new DistributionClient({ settings, attempts: 1, backoffMs: 1, log: silentLogger() });
    clients.push(c);
    expect((await c.fileCredentials(host))?.username).toBe('alice');
    settings.credentialsFile = file('b.json', 'bob');
    expect((await c.fileCredentials(host))?.username).toBe('bob');
  });
});

// Loopback registries are reached over plain HTTP: the HTTPS server is configured as a mirror
// ("https://..." keeps its scheme) in front of the plain one.
describe('TLS', () => {
  const mirrored = (o: Partial<RegistrySettings> = {}): Partial<RegistrySettings> => ({ mirrors: { [host]: [`https://${tlsHost}`] }, ...o });

  it('a mirror whose certificate is not trusted fails at once (one TLS handshake, not retried) naming the fix', async () => {
    let handshakes = 0;
    const count = (): void => void handshakes++;
    https.on('tlsClientError', count);
    try {
      handle = (_req, res) => res.writeHead(503).end();
      const e = await pullError(client(mirrored(), 3));
      // The registry after it answered 503 throughout: its error, saying what the mirror answered.
      expect(e).toBeInstanceOf(UnavailableError);
      expect(e.message).toMatch(new RegExp(`tried before: https://${tlsHost}: GET https://${tlsHost}/v2/lib/app/manifests/1: TLS: .*\\(configure registry\\.caFiles, or registry\\.insecure for this host\\)`));
      expect(handshakes).toBe(1);
    } finally {
      https.off('tlsClientError', count);
    }
  });

  it('trusts a mirror signed by a CA in caFiles (picked up when the setting changes), or any certificate when insecure', async () => {
    handle = (_req, res) => res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
    const r = parseReference(`${host}/lib/app:1`);
    const settings = { mirrors: {}, insecure: [], caFiles: [], credentialsFile: '', noProgressTimeoutSeconds: 5, ...mirrored() } as RegistrySettings;
    const c = new DistributionClient({ settings, attempts: 1, backoffMs: 1, log: silentLogger() });
    clients.push(c);
    expect((await c.repository(r).getManifest('1')).endpoint).toBe(`http://${host}`);
    settings.caFiles = [ca];
    const m = await c.repository(r).getManifest('1');
    expect(m.digest).toBe(sha256(MANIFEST));
    expect(m.endpoint).toBe(`https://${tlsHost}`);

    const insecure = client(mirrored({ insecure: [tlsHost] }));
    expect((await insecure.repository(r).getManifest('1')).endpoint).toBe(`https://${tlsHost}`);
  });

  it('exchanges an identity token with a token server over HTTPS', async () => {
    handle = (req, res, body) => {
      if ((req.url ?? '').startsWith('/token')) {
        const form = new URLSearchParams(body);
        return json(res, 200, { token: form.get('refresh_token') === 'refresh-me' ? 'good' : 'bad' });
      }
      if (req.headers.authorization !== 'Bearer good') return json(res, 401, {}, { 'www-authenticate': `Bearer realm="https://${tlsHost}/token",service="reg"` });
      res.writeHead(200).end(MANIFEST);
    };
    const r = parseReference(`${host}/lib/app:1`);
    const c = client({ caFiles: [ca] });
    const m = await c.repository(r, { identityToken: 'refresh-me' }).getManifest('1');
    expect(m.bytes).toEqual(MANIFEST);
    expect(seen.filter((s) => s.method === 'POST').map((s) => s.path)).toEqual(['/token']);
  });
});

describe('statuses', () => {
  it('honours Retry-After given as an HTTP date, and ignores one that is not a time', async () => {
    let n = 0;
    handle = (_req, res) => {
      n++;
      if (n === 1) return res.writeHead(503, { 'retry-after': new Date(Date.now() + 200).toUTCString() }).end();
      if (n === 2) return res.writeHead(429, { 'retry-after': 'soon' }).end();
      res.writeHead(200).end(MANIFEST);
    };
    const r = parseReference(`${host}/lib/app:1`);
    const m = await client({}, 3).repository(r).getManifest('1');
    expect(m.bytes).toEqual(MANIFEST);
    expect(n).toBe(3);
  });

  it('a 416 for a resumed blob is retried, then UNAVAILABLE saying the range was not satisfiable', async () => {
    handle = (_req, res) => res.writeHead(416).end();
    const r = parseReference(`${host}/lib/app:1`);
    const e = (await client({}, 2)
      .repository(r)
      .openBlob(sha256('x'), 5, 10)
      .catch((x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toMatch(/range not satisfiable/);
  });

  it('a 404 with a body that is not an error document is NOT_FOUND without detail', async () => {
    handle = (_req, res) => res.writeHead(404).end('<html>404</html>');
    const e = await pullError(client());
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toMatch(/manifest "1" of 127\.0\.0\.1:\d+\/lib\/app not found at http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('reads a manifest sent chunked (no Content-Length)', async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.write(MANIFEST.subarray(0, 10));
      res.end(MANIFEST.subarray(10));
    };
    const r = parseReference(`${host}/lib/app:1`);
    expect((await client().repository(r).getManifest('1')).bytes).toEqual(MANIFEST);
  });
});
