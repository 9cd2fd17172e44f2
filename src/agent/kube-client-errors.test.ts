// The agent's REST client when things are off: error bodies that are not Status objects, servers
// that do not answer, kubeconfig variants, token files that rotate or vanish. A plain HTTP server
// plays the API server.
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiError, KubeClient, kubeconfigConnection } from './kube-client.js';

const dir = mkdtempSync('/tmp/nexcage-kubeclient-err-');
let server: Server;
let url = '';
const auth: (string | undefined)[] = [];
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}');

beforeAll(async () => {
  server = createServer((req, res) => {
    auth.push(req.headers.authorization);
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  answer = (_req, res) => res.end('{}');
  vi.useRealTimers();
});

describe('KubeClient answers', () => {
  it('an error body that is not a Status object is quoted (trimmed, at most 300 characters)', async () => {
    const c = new KubeClient({ server: url });
    answer = (_req, res) => res.writeHead(502).end('  upstream connect error  \n');
    await expect(c.request('GET', '/api/v1/nodes/n1')).rejects.toMatchObject({ code: 502, message: 'HTTP 502: upstream connect error (GET /api/v1/nodes/n1)' });
    answer = (_req, res) => res.writeHead(500).end('x'.repeat(1000));
    const long = (await c.request('GET', '/a').catch((e: unknown) => e)) as KubeApiError;
    expect(long.message).toBe(`HTTP 500: ${'x'.repeat(300)} (GET /a)`);
    expect(long.body).toHaveLength(1000);
    answer = (_req, res) => res.writeHead(500).end('{"kind":"Status","code":500}');
    await expect(c.request('GET', '/b')).rejects.toThrow('HTTP 500: {"kind":"Status","code":500} (GET /b)');
    answer = (_req, res) => res.writeHead(503).end();
    await expect(c.request('GET', '/c')).rejects.toThrow(/^HTTP 503 \(GET \/c\)$/);
    c.close();
  });

  it('an empty 2xx body is undefined; a 2xx body that is not JSON is an error', async () => {
    const c = new KubeClient({ server: url });
    answer = (_req, res) => res.writeHead(200).end();
    expect(await c.request('DELETE', '/x')).toBeUndefined();
    answer = (_req, res) => res.writeHead(200).end('<html>');
    await expect(c.request('GET', '/x')).rejects.toThrow(SyntaxError);
    c.close();
  });

  it('a server that does not answer within the timeout fails naming the call', async () => {
    const c = new KubeClient({ server: url });
    answer = () => undefined; // never answers
    await expect(c.request('GET', '/api/v1/nodes/slow', { timeoutMs: 100 })).rejects.toThrow('GET /api/v1/nodes/slow: no answer within 100 ms');
    server.closeAllConnections();
    c.close();
  });

  it('sends no Authorization header without credentials', async () => {
    const c = new KubeClient({ server: url });
    await c.request('GET', '/x');
    expect(auth.at(-1)).toBeUndefined();
    c.close();
  });
});

describe('token files', () => {
  it('re-reads a rotated token at most once a minute, keeps the last one while the file is gone, and fails without any', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const c = new KubeClient({ server: url, tokenFile });
    await c.request('GET', '/1');
    expect(auth.at(-1)).toBe('Bearer first');
    writeFileSync(tokenFile, 'second\n');
    vi.advanceTimersByTime(30_000);
    await c.request('GET', '/2');
    expect(auth.at(-1)).toBe('Bearer first');
    vi.advanceTimersByTime(31_000);
    await c.request('GET', '/3');
    expect(auth.at(-1)).toBe('Bearer second');
    // The kubelet swaps the file; a read in between finds nothing: the last token goes on.
    unlinkSync(tokenFile);
    vi.advanceTimersByTime(61_000);
    await c.request('GET', '/4');
    expect(auth.at(-1)).toBe('Bearer second');
    c.close();

    const none = new KubeClient({ server: url, tokenFile: join(dir, 'never-there') });
    await expect(none.request('GET', '/5')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(`token file ${join(dir, 'never-there')} cannot be read: ENOENT`) });
    none.close();
  });
});

describe('kubeconfig variants', () => {
  const write = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it('without current-context the first context is used; a user that is not listed means no credentials', () => {
    const p = write(
      'first-ctx',
      'clusters:\n- name: k\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: a\n  context:\n    cluster: k\n    user: nobody\n- name: b\n  context:\n    cluster: other\n',
    );
    expect(kubeconfigConnection(p)).toEqual({ server: 'http://127.0.0.1:1' });
  });

  it('an empty file names the missing context; a context without cluster names it', () => {
    expect(() => kubeconfigConnection(write('empty', ''))).toThrow(/: context "" not found/);
    expect(() => kubeconfigConnection(write('no-cluster', 'current-context: c\ncontexts:\n- name: c\n  context: {}\n'))).toThrow(/cluster "" not found or has no server/);
    expect(() => kubeconfigConnection(write('not-yaml', 'a: [unclosed'))).toThrow(/^kubeconfig .*not-yaml: /);
  });

  it('client certificate and key from files (relative to the kubeconfig), basic auth, an auth-provider refused', () => {
    writeFileSync(join(dir, 'client.crt'), 'CERT');
    writeFileSync(join(dir, 'client.key'), 'KEY');
    const base = 'current-context: c\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nclusters:\n- name: k\n  cluster:\n    server: https://api\n';
    expect(kubeconfigConnection(write('certs', `${base}users:\n- name: u\n  user:\n    client-certificate: client.crt\n    client-key: client.key\n`))).toEqual({
      server: 'https://api',
      cert: Buffer.from('CERT'),
      key: Buffer.from('KEY'),
    });
    expect(kubeconfigConnection(write('basic', `${base}users:\n- name: u\n  user:\n    username: admin\n    password: secret\n`)).basicAuth).toEqual({ username: 'admin', password: 'secret' });
    expect(() => kubeconfigConnection(write('ap', `${base}users:\n- name: u\n  user:\n    auth-provider:\n      name: gcp\n`))).toThrow(/user "u" uses an exec\/auth-provider plugin/);
  });

  it('a client certificate over TLS goes into the agent (a missing file is an error at load time)', () => {
    const base = 'current-context: c\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nclusters:\n- name: k\n  cluster:\n    server: https://api\n';
    expect(() => kubeconfigConnection(write('missing-cert', `${base}users:\n- name: u\n  user:\n    client-certificate: nowhere.crt\n`))).toThrow(/ENOENT.*nowhere\.crt/);
    // Building the https agent with them does not throw (they are only used at connect time).
    const c = new KubeClient({ server: 'https://127.0.0.1:1', cert: Buffer.from('CERT'), key: Buffer.from('KEY'), tlsServerName: 'kubernetes' });
    c.close();
  });
});
