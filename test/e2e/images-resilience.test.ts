// Pulls that go wrong half way: the daemon killed -9 mid-download, a registry that stops sending
// (the no-progress timeout), and a caller that goes away mid-download (cancel, deadline). The store
// must come back clean and the next pull succeed.
import * as grpc from '@grpc/grpc-js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type CriClient } from '../../src/cri/grpc/client.js';
import { buildImage, layer, pushImage, type BuiltImage } from '../support/image-builder.js';
import { RegistryProxy } from '../support/registry-proxy.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let proxy: RegistryProxy;
let big: BuiltImage;

const hex = (digest: string): string => digest.slice('sha256:'.length);

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  proxy = await RegistryProxy.start({ upstream: registry.url });
  // Random bytes do not compress: the blob is really 24 MB on the wire.
  const l = await layer([{ path: 'blob.bin', content: randomBytes(24 * 1024 * 1024) }], 'gzip');
  const small = await layer([{ path: 'small.txt', content: 'small\n' }], 'zstd');
  big = buildImage({ layers: [small, l] });
  await pushImage(registry.pushTarget, 'test/big', ['latest'], big);
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

describe('a pull interrupted by kill -9 of the daemon', () => {
  it('restarts, pulls again successfully (resuming the partial blob) and leaves no partial or temp snapshot', async () => {
    const d = t.track(new Daemon(t.dir(), 'crash'));
    await d.start();
    const layerDigest = big.layers[1]?.digest as string;
    const fault = { match: new RegExp(`^GET /v2/test/big/blobs/${layerDigest}`), times: 1, action: { kind: 'stall-after' as const, bytes: 8 * 1024 * 1024 } };
    proxy.addFault(fault);
    const ref = `${proxy.host}/test/big:latest`;
    const first = call(d.client.image, 'PullImage', { image: { image: ref } }, 120_000).catch((e: unknown) => e);
    const partial = join(d.config().rootDir as string, 'content/ingest', hex(layerDigest));
    await waitFor('8 MB of the layer in the ingest file', () => existsSync(partial) && statSync(partial).size >= 8 * 1024 * 1024, 30_000);
    expect(await d.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    await first;

    await d.start();
    const id = (await call(d.client.image, 'PullImage', { image: { image: ref } }, 120_000)).image_ref;
    expect(id).toBe(big.configDigest);
    const root = d.config().rootDir as string;
    expect(readdirSync(join(root, 'content/ingest'))).toEqual([]);
    expect(readdirSync(join(root, 'snapshots')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    // The committed blob is the real one, and the second download continued from the partial.
    const blob = readFileSync(join(root, 'content/blobs/sha256', hex(layerDigest)));
    expect(`sha256:${createHash('sha256').update(blob).digest('hex')}`).toBe(layerDigest);
    const ranges = proxy.requests.filter((r) => r.path.endsWith(layerDigest)).map((r) => r.range);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=(\d+)-/);
    expect(Number(/^bytes=(\d+)-/.exec(ranges[1] ?? '')?.[1])).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    const st = await call(d.client.image, 'ImageStatus', { image: { image: ref } });
    expect(st.image?.id).toBe(big.configDigest);
    await d.stop();
  });
});

describe('the no-progress timeout', () => {
  it('gives up on a connection that stops sending and resumes the blob on a new one', async () => {
    const d = t.track(new Daemon(t.dir(), 'stall', { config: { registry: { noProgressTimeoutSeconds: 1 } } }));
    await d.start();
    const layerDigest = big.layers[1]?.digest as string;
    proxy.requests.length = 0;
    proxy.addFault({ match: new RegExp(`^GET /v2/test/big/blobs/${layerDigest}`), times: 1, action: { kind: 'stall-after', bytes: 4 * 1024 * 1024 } });
    const id = (await call(d.client.image, 'PullImage', { image: { image: `${proxy.host}/test/big:latest` } }, 120_000)).image_ref;
    expect(id).toBe(big.configDigest);
    const ranges = proxy.requests.filter((r) => r.path.endsWith(layerDigest)).map((r) => r.range);
    expect(ranges).toHaveLength(2);
    expect(Number(/^bytes=(\d+)-/.exec(ranges[1] ?? '')?.[1])).toBeGreaterThan(0);
    await d.stop();
  });
});

/** A PullImage the test can cancel, as a client disconnecting would. */
function startPull(c: CriClient, image: string, timeoutMs: number): { done: Promise<unknown>; cancel: () => void } {
  let pending: grpc.ClientUnaryCall | undefined;
  const done = new Promise((resolve, reject) => {
    pending = c.image.PullImage({ image: { image } }, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  return { done, cancel: () => pending?.cancel() };
}

describe('a pull whose caller goes away', () => {
  let d: Daemon;
  const layerPath = (): RegExp => new RegExp(`^GET /v2/test/big/blobs/${big.layers[1]?.digest as string}`);
  const metric = async (result: string): Promise<number> => {
    const text = await (await fetch(`${d.metricsUrl}/metrics`)).text();
    return Number(new RegExp(`^nexcage_image_pulls_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    d = t.track(new Daemon(t.dir(), 'cancel'));
    await d.start();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('stops when its only caller cancels: the registry connection is closed, nothing is recorded, the partial stays', async () => {
    const layerDigest = big.layers[1]?.digest as string;
    proxy.requests.length = 0;
    proxy.addFault({ match: layerPath(), times: 1, action: { kind: 'throttle', bytesPerSecond: 1024 * 1024 } });
    const pull = startPull(d.client, `${proxy.host}/test/big:latest`, 120_000);
    const root = d.config().rootDir as string;
    const partial = join(root, 'content/ingest', hex(layerDigest));
    await waitFor('1 MiB of the layer in the ingest file', () => existsSync(partial) && statSync(partial).size >= 1024 * 1024, 30_000);
    expect(proxy.throttled.open).toBe(1);

    const cancelledAt = Date.now();
    pull.cancel();
    await expect(pull.done).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    await waitFor('the daemon to close its connection to the registry', () => proxy.throttled.open === 0, 10_000);
    const closedMs = Date.now() - cancelledAt;
    await waitFor('the daemon to log the pull as cancelled', () => d.logs().some((l) => l.msg === 'image pull cancelled: every caller went away'), 10_000);
    process.stdout.write(`[e2e] cancelled pull: registry connection closed ${closedMs} ms after the cancel, ${proxy.throttled.bytes} bytes sent\n`);
    expect(closedMs).toBeLessThan(5000);
    expect(d.logs().some((l) => l.msg === 'cri call cancelled by its caller' && l.method === 'PullImage' && l.code === 'CANCELLED')).toBe(true);

    // No retry, no other connection; what arrived is a partial to resume, never a committed blob.
    expect(proxy.count(layerPath())).toBe(1);
    expect(existsSync(join(root, 'content/blobs/sha256', hex(layerDigest)))).toBe(false);
    expect(statSync(partial).size).toBeLessThanOrEqual(proxy.throttled.bytes);
    expect((await call(d.client.image, 'ListImages', {})).images).toEqual([]);
    expect(await metric('cancelled')).toBe(1);
  });

  it('goes on for a second caller when the first one leaves (its deadline passes), resuming the partial the cancelled pull left', async () => {
    const layerDigest = big.layers[1]?.digest as string;
    proxy.requests.length = 0;
    proxy.addFault({ match: layerPath(), times: 1, action: { kind: 'throttle', bytesPerSecond: 4 * 1024 * 1024 } });
    const ref = `${proxy.host}/test/big:latest`;
    const first = call(d.client.image, 'PullImage', { image: { image: ref } }, 2_000).then(
      () => undefined,
      (e: unknown) => e as grpc.ServiceError,
    );
    const second = call(d.client.image, 'PullImage', { image: { image: ref } }, 120_000);
    expect((await first)?.code).toBe(grpc.status.DEADLINE_EXCEEDED);

    // The shared download carries on over the same connection.
    const sent = proxy.throttled.bytes;
    await waitFor('more bytes to flow after the first caller left', () => proxy.throttled.bytes > sent + 1024 * 1024, 20_000);
    expect(proxy.throttled.open).toBe(1);
    expect((await second).image_ref).toBe(big.configDigest);

    // One request for the layer, continuing from the first test's partial; the store is whole.
    const ranges = proxy.requests.filter((r) => r.path.endsWith(layerDigest)).map((r) => r.range);
    expect(ranges).toHaveLength(1);
    expect(Number(/^bytes=(\d+)-/.exec(ranges[0] ?? '')?.[1])).toBeGreaterThanOrEqual(1024 * 1024);
    const root = d.config().rootDir as string;
    expect(readdirSync(join(root, 'content/ingest'))).toEqual([]);
    const blob = readFileSync(join(root, 'content/blobs/sha256', hex(layerDigest)));
    expect(`sha256:${createHash('sha256').update(blob).digest('hex')}`).toBe(layerDigest);
    expect(await metric('cancelled')).toBe(1);
    expect(await metric('success')).toBe(1);
  });
});
