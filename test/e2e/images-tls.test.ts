// Registries over HTTPS: a configured CA file makes a registry's certificate trusted; without it
// the pull fails at once naming TLS; `insecure` for the host skips verification.
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { pushTestImages, type TestImages } from '../support/image-builder.js';
import { makeTestCa, TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir } from './harness.js';

const t = useTestDir();
let plain: TestRegistry;
let tls: TestRegistry;
let images: TestImages;

beforeAll(async () => {
  plain = await TestRegistry.start({ parent: t.dir().path });
  images = await pushTestImages(plain.pushTarget);
  const ca = makeTestCa(t.dir().path);
  tls = await TestRegistry.start({ parent: t.dir().path, tls: { cert: ca.cert, key: ca.key }, storageOf: plain });
  (globalThis as { caFile?: string }).caFile = ca.ca;
});

afterAll(async () => {
  await tls?.stop();
  await plain?.stop();
});

async function pullVia(name: string, registry: Record<string, unknown>): Promise<string | ServiceError> {
  const d = t.track(new Daemon(t.dir(), name, { config: { registry } }));
  await d.start();
  try {
    return (await call(d.client.image, 'PullImage', { image: { image: 'tls.nexcage.test/test/busybox:latest' } }, 60_000)).image_ref;
  } catch (err) {
    return err as ServiceError;
  } finally {
    await d.stop();
  }
}

describe('HTTPS registries', () => {
  it('trusts a registry certificate signed by a configured CA file', async () => {
    const caFile = (globalThis as { caFile?: string }).caFile as string;
    expect(await pullVia('ca', { mirrors: { 'tls.nexcage.test': [tls.url] }, caFiles: [caFile] })).toBe(images.busybox.configDigest);
  });

  it('refuses an untrusted certificate at once, naming TLS and the settings that fix it', async () => {
    const started = Date.now();
    const err = (await pullVia('untrusted', { mirrors: { 'tls.nexcage.test': [tls.url] } })) as ServiceError;
    expect(err.code).toBe(14);
    expect(err.details).toMatch(/TLS: .*registry\.caFiles/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('skips verification for a host listed as insecure', async () => {
    expect(await pullVia('insecure', { mirrors: { 'tls.nexcage.test': [tls.url] }, insecure: [tls.host] })).toBe(images.busybox.configDigest);
  });
});
