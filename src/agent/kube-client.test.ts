// The agent's own Kubernetes REST client: connection settings from a kubeconfig or the service
// account, TLS against a real https server (certificates made by openssl), auth headers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inClusterConnection, KubeApiError, KubeClient, kubeconfigConnection } from './kube-client.js';

const dir = mkdtempSync('/tmp/nexcage-kubeclient-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      contexts: [{ name: 'other', context: { cluster: 'x', user: 'x' } }, { name: 'c', context: { cluster: 'k', user: 'u' } }],
      clusters: [{ name: 'k', cluster }],
      users: [{ name: 'u', user }],
    }),
  );
  return path;
}

describe('kubeconfig and in-cluster settings', () => {
  it('reads the current context: server, CA data or file (relative to the kubeconfig), token, client certificate', () => {
    writeFileSync(join(dir, 'ca.pem'), 'CA-FILE');
    const a = kubeconfigConnection(kubeconfig('a', { server: 'https://api:6443/', 'certificate-authority': 'ca.pem', 'tls-server-name': 'kubernetes' }, { token: 't0k' }));
    expect(a).toEqual({ server: 'https://api:6443', ca: Buffer.from('CA-FILE'), tlsServerName: 'kubernetes', token: 't0k' });
    const b = kubeconfigConnection(
      kubeconfig('b', { server: 'https://api', 'certificate-authority-data': Buffer.from('CA').toString('base64') }, { 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') }),
    );
    expect(b).toMatchObject({ ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY') });
    expect(kubeconfigConnection(kubeconfig('c', { server: 'http://127.0.0.1:1', 'insecure-skip-tls-verify': true }, { tokenFile: 'tok' }))).toEqual({
      server: 'http://127.0.0.1:1',
      insecureSkipTlsVerify: true,
      tokenFile: join(dir, 'tok'),
    });
  });

  it('refuses exec plugins, a missing context and a cluster without server, naming the file', () => {
    expect(() => kubeconfigConnection(kubeconfig('d', { server: 'https://a' }, { exec: { command: 'aws' } }))).toThrow(/kubeconfig .*\/d: user "u" uses an exec\/auth-provider plugin/);
    writeFileSync(join(dir, 'e'), 'current-context: nope\ncontexts: []\n');
    expect(() => kubeconfigConnection(join(dir, 'e'))).toThrow(/context "nope" not found/);
    expect(() => kubeconfigConnection(kubeconfig('f', {}, {}))).toThrow(/cluster "k" not found or has no server/);
    expect(() => kubeconfigConnection(join(dir, 'missing'))).toThrow(/kubeconfig .*missing: ENOENT/);
  });

  it('builds the in-cluster settings from the service account files and KUBERNETES_SERVICE_*', () => {
    const sa = join(dir, 'sa');
    execFileSync('mkdir', ['-p', sa]);
    writeFileSync(join(sa, 'ca.crt'), 'CA');
    writeFileSync(join(sa, 'token'), 'tok');
    expect(inClusterConnection({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, sa)).toEqual({ server: 'https://10.96.0.1:443', ca: Buffer.from('CA'), tokenFile: join(sa, 'token') });
    expect(inClusterConnection({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa).server).toBe('https://[fd00::1]:443');
    expect(() => inClusterConnection({}, sa)).toThrow(/not running in a cluster/);
    expect(() => inClusterConnection({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, join(dir, 'nosa'))).toThrow(/service account files .* cannot be read/);
  });
});

describe('requests over TLS', () => {
  let server: Server;
  let url = '';
  const seen: { auth?: string; type?: string; body: string }[] = [];
  beforeAll(async () => {
    // A CA and a server certificate for 127.0.0.1 signed by it.
    const o = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca']);
    o(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=kubernetes']);
    writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1,DNS:kubernetes\n');
    o(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '1', '-extfile', 'ext']);
    server = createServer({ key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.crt')) }, (req, res) => {
      let body = '';
      req.on('data', (b: Buffer) => (body += b.toString()));
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, type: req.headers['content-type'], body });
        if (req.url === '/api/v1/nodes/gone') {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', message: 'nodes "gone" not found', code: 404 }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ path: req.url, method: req.method }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('verifies the server against the configured CA and sends the bearer token', async () => {
    const c = new KubeClient({ server: url, ca: readFileSync(join(dir, 'ca.crt')), token: 'abc' });
    expect(await c.request('GET', '/api/v1/nodes/n1')).toEqual({ path: '/api/v1/nodes/n1', method: 'GET' });
    expect(seen.at(-1)?.auth).toBe('Bearer abc');
    await c.request('PATCH', '/api/v1/nodes/n1', { body: { metadata: { labels: { a: null } } }, contentType: 'application/merge-patch+json' });
    expect(seen.at(-1)).toMatchObject({ type: 'application/merge-patch+json', body: '{"metadata":{"labels":{"a":null}}}' });
    c.close();
  });

  it('refuses a server its CA did not sign, unless verification is off', async () => {
    const strict = new KubeClient({ server: url });
    await expect(strict.request('GET', '/x')).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    strict.close();
    const lax = new KubeClient({ server: url, insecureSkipTlsVerify: true, basicAuth: { username: 'u', password: 'p' } });
    await lax.request('GET', '/x');
    expect(seen.at(-1)?.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    lax.close();
  });

  it('reads the token file, and turns an error answer into KubeApiError with the status and message', async () => {
    writeFileSync(join(dir, 'token'), 'from-file\n');
    const c = new KubeClient({ server: url, ca: readFileSync(join(dir, 'ca.crt')), tokenFile: join(dir, 'token') });
    await c.request('GET', '/y');
    expect(seen.at(-1)?.auth).toBe('Bearer from-file');
    const err = await c.request('GET', '/api/v1/nodes/gone').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ code: 404, message: 'HTTP 404: nodes "gone" not found (GET /api/v1/nodes/gone)' });
    c.close();
  });

  it('refuses a server URL that is not http(s)', () => {
    expect(() => new KubeClient({ server: 'ftp://x' })).toThrow(/must be an https:\/\//);
  });
});
