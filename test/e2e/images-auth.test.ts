// Registry auth and mirrors end to end: docker-registry with htpasswd basic auth, a bearer-token
// server in front of an anonymous one, CRI AuthConfig vs a credentials file, and mirror fallback.
import type { ServiceError } from '@grpc/grpc-js';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { pushTestImages, type TestImages } from '../support/image-builder.js';
import { RegistryProxy } from '../support/registry-proxy.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir } from './harness.js';

const t = useTestDir();
let basic: TestRegistry;
let anon: TestRegistry;
let tokenFront: RegistryProxy;
let images: TestImages;
let d: Daemon;

interface Auth {
  username?: string;
  password?: string;
  auth?: string;
  registry_token?: string;
  identity_token?: string;
  server_address?: string;
}

async function pull(daemon: Daemon, ref: string, auth?: Auth): Promise<string> {
  return (await call(daemon.client.image, 'PullImage', { image: { image: ref }, ...(auth ? { auth } : {}) }, 60_000)).image_ref;
}
async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  basic = await TestRegistry.start({ parent: t.dir().path, users: { alice: 'wonderland' } });
  anon = await TestRegistry.start({ parent: t.dir().path });
  tokenFront = await RegistryProxy.start({ upstream: anon.url, token: { users: { bob: 'builder' }, ttlSeconds: 300 } });
  images = await pushTestImages(basic.pushTarget);
  await pushTestImages(anon.pushTarget);
  d = t.track(new Daemon(t.dir(), 'auth'));
  await d.start();
});

afterAll(async () => {
  await d?.stop();
  await tokenFront?.stop();
  await basic?.stop();
  await anon?.stop();
});

describe('htpasswd basic auth (docker-registry)', () => {
  it('refuses a pull without credentials: FAILED_PRECONDITION saying unauthorized', async () => {
    const err = await failure(pull(d, `${basic.host}/test/busybox:latest`));
    expect(err.code).toBe(9);
    expect(err.details).toMatch(/unauthorized: 127\.0\.0\.1:\d+ answered 401 \(no credentials given\)/);
  });

  it('refuses a wrong password', async () => {
    const err = await failure(pull(d, `${basic.host}/test/busybox:latest`, { username: 'alice', password: 'nope' }));
    expect(err.code).toBe(9);
    expect(err.details).toContain('to the given credentials');
  });

  it('pulls with AuthConfig username/password and with the base64 auth field', async () => {
    expect(await pull(d, `${basic.host}/test/busybox:latest`, { username: 'alice', password: 'wonderland' })).toBe(images.busybox.configDigest);
    const auth = Buffer.from('alice:wonderland').toString('base64');
    expect(await pull(d, `${basic.host}/test/user:latest`, { auth, server_address: basic.host })).toBe(images.user.configDigest);
  });

  it('does not send credentials meant for another registry', async () => {
    const err = await failure(pull(d, `${basic.host}/test/username:latest`, { username: 'alice', password: 'wonderland', server_address: 'other.example:5000' }));
    expect(err.code).toBe(9);
  });

  it('pulls with credentials from the docker-style credentials file in the config', async () => {
    const file = t.dir().join('docker-config.json');
    writeFileSync(file, JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
    const d2 = t.track(new Daemon(t.dir(), 'credfile', { config: { registry: { credentialsFile: file } } }));
    await d2.start();
    try {
      expect(await pull(d2, `${basic.host}/test/username:latest`)).toBe(images.userName.configDigest);
    } finally {
      await d2.stop();
    }
  });
});

describe('bearer token server in front of the registry', () => {
  it('refuses anonymous pulls with the token server\'s 401', async () => {
    const err = await failure(pull(d, `${tokenFront.host}/test/busybox:latest`));
    expect(err.code).toBe(9);
    expect(err.details).toContain('unauthorized');
  });

  it('fetches a token with the credentials, caches it per scope until expiry, and pulls', async () => {
    const before = tokenFront.tokenRequests;
    expect(await pull(d, `${tokenFront.host}/test/busybox:latest`, { username: 'bob', password: 'builder' })).toBe(images.busybox.configDigest);
    expect(await pull(d, `${tokenFront.host}/test/busybox:1.0`, { username: 'bob', password: 'builder' })).toBe(images.busybox.configDigest);
    // One token for repository:test/busybox:pull, reused by every manifest and blob request.
    expect(tokenFront.tokenRequests - before).toBe(1);
    expect(await pull(d, `${tokenFront.host}/test/user:latest`, { username: 'bob', password: 'builder' })).toBe(images.user.configDigest);
    expect(tokenFront.tokenRequests - before).toBe(2);
  });

  it('uses a registry_token as the bearer token as it is', async () => {
    const res = await fetch(`${tokenFront.url}/token?service=nexcage-test&scope=repository:test/username:pull`, {
      headers: { authorization: `Basic ${Buffer.from('bob:builder').toString('base64')}` },
    });
    const { token } = (await res.json()) as { token: string };
    expect(await pull(d, `${tokenFront.host}/test/username:latest`, { registry_token: token })).toBe(images.userName.configDigest);
  });

  it('exchanges an identity_token (OAuth2 refresh token) for an access token', async () => {
    tokenFront.refreshTokens.set('refresh-123', 'bob');
    await call(d.client.image, 'RemoveImage', { image: { image: images.userName.configDigest } });
    expect(await pull(d, `${tokenFront.host}/test/username:latest`, { identity_token: 'refresh-123' })).toBe(images.userName.configDigest);
    expect(tokenFront.requests.some((r) => r.method === 'POST' && r.path === '/token' && r.status === 200)).toBe(true);
    const err = await failure(pull(d, `${tokenFront.host}/test/multiarch:latest`, { identity_token: 'stolen' }));
    expect(err.code).toBe(9);
  });

  it('refuses bad credentials at the token server', async () => {
    await call(d.client.image, 'RemoveImage', { image: { image: images.multiarch.digest } });
    const err = await failure(pull(d, `${tokenFront.host}/test/multiarch:latest`, { username: 'bob', password: 'wrong' }));
    expect(err.code).toBe(9);
    expect(err.details).toContain('refused the credentials');
  });
});

describe('mirrors', () => {
  it('fetches through the first mirror that works, falling back past a dead one; the image keeps its own name', async () => {
    const m = t.track(
      new Daemon(t.dir(), 'mirrors', {
        config: { registry: { mirrors: { 'registry.nexcage.test': ['http://127.0.0.1:1', anon.url], 'docker.io': [`${anon.url}/`] } } },
      }),
    );
    await m.start();
    try {
      const id = await pull(m, 'registry.nexcage.test/test/busybox:latest');
      expect(id).toBe(images.busybox.configDigest);
      const st = await call(m.client.image, 'ImageStatus', { image: { image: 'registry.nexcage.test/test/busybox:latest' } });
      expect(st.image?.repo_tags).toEqual(['registry.nexcage.test/test/busybox:latest']);
      expect(st.image?.repo_digests).toEqual([`registry.nexcage.test/test/busybox@${images.busybox.manifestDigest}`]);
      // Docker Hub names through a mirror: test/user is docker.io/test/user.
      expect(await pull(m, 'test/user')).toBe(images.user.configDigest);
      const u = await call(m.client.image, 'ImageStatus', { image: { image: 'docker.io/test/user:latest' } });
      expect(u.image?.repo_tags).toEqual(['docker.io/test/user:latest']);
      expect(m.logs().some((l) => l.msg === 'registry endpoint failed, trying the next' && l.endpoint === 'http://127.0.0.1:1')).toBe(true);
    } finally {
      await m.stop();
    }
  });
});
