import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseChallenge } from './auth-challenge.js';
import { CredentialsFile, credentialsFor, credentialsFromAuth, normaliseHost } from './credentials.js';
import { endpointsFor } from './endpoints.js';

const dir = mkdtempSync('/tmp/nexcage-registry-config-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('WWW-Authenticate challenges', () => {
  it('parses bearer and basic challenges with quoted and bare values', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
    expect(parseChallenge('bearer realm=http://x/token, service=s')?.params).toEqual({ realm: 'http://x/token', service: 's' });
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });
});

describe('credentials', () => {
  it('maps a CRI AuthConfig (username/password, auth, tokens) and scopes it to its server', () => {
    const base = { username: '', password: '', auth: '', serverAddress: '', identityToken: '', registryToken: '' };
    expect(credentialsFromAuth(base)).toBeUndefined();
    expect(credentialsFromAuth({ ...base, auth: Buffer.from('u:p:with:colons').toString('base64') })).toEqual({ username: 'u', password: 'p:with:colons' });
    expect(() => credentialsFromAuth({ ...base, auth: 'bm9jb2xvbg==' })).toThrow(/not base64 of "username:password"/);
    const c = credentialsFromAuth({ ...base, username: 'u', password: 'p', serverAddress: 'https://index.docker.io/v1/' });
    expect(c?.serverAddress).toBe('docker.io');
    expect(credentialsFor(c, 'docker.io', 'docker.io')).toBe(c);
    expect(credentialsFor(c, 'mirror.local:5000', 'docker.io')).toBeUndefined();
    const unscoped = credentialsFromAuth({ ...base, registryToken: 't' });
    expect(credentialsFor(unscoped, 'quay.io', 'quay.io')).toEqual({ registryToken: 't' });
    expect(credentialsFor(unscoped, 'mirror:5000', 'quay.io')).toBeUndefined();
    expect(normaliseHost('http://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
  });

  it('reads a docker config.json and re-reads it when it changes', async () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('a:b').toString('base64') }, 'q.io': { identitytoken: 'tok' } } }));
    const f = new CredentialsFile(file);
    expect(await f.lookup('docker.io')).toEqual({ username: 'a', password: 'b' });
    expect(await f.lookup('q.io')).toEqual({ identityToken: 'tok' });
    writeFileSync(file, JSON.stringify({ auths: { 'q.io': { username: 'x', password: 'y' } } }));
    const later = new Date(Date.now() + 5000);
    const { utimesSync } = await import('node:fs');
    utimesSync(file, later, later);
    expect(await f.lookup('q.io')).toEqual({ username: 'x', password: 'y' });
    expect(await new CredentialsFile(join(dir, 'missing.json')).lookup('q.io')).toBeUndefined();
  });
});

describe('endpoints', () => {
  it('puts mirrors first, then the registry; plain HTTP only for loopback and insecure hosts; Docker Hub at registry-1', () => {
    const cfg = { mirrors: { 'docker.io': ['http://127.0.0.1:5000', 'mirror.example:5000/prefix/'] }, insecure: ['insecure.example'] };
    expect(endpointsFor('docker.io', cfg).map((e) => e.base)).toEqual(['http://127.0.0.1:5000', 'https://mirror.example:5000/prefix', 'https://registry-1.docker.io']);
    expect(endpointsFor('insecure.example', cfg).map((e) => e.base)).toEqual(['http://insecure.example']);
    expect(endpointsFor('localhost:5000', cfg).map((e) => e.base)).toEqual(['http://localhost:5000']);
    expect(endpointsFor('quay.io', cfg).map((e) => e.base)).toEqual(['https://quay.io']);
    expect(endpointsFor('r', { mirrors: { r: ['https://m.example/v2/'] }, insecure: ['m.example'] })[0]).toMatchObject({ base: 'https://m.example', skipVerify: true });
  });
});
