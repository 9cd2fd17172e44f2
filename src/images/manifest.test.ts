import { describe, expect, it } from 'vitest';
import { MAX_LAYERS, parseImageConfig, parseManifest } from './manifest.js';
import { MT } from './media-types.js';
import { hostPlatform, platformMatches } from './platform.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const manifest = (over: Record<string, unknown> = {}): Buffer =>
  enc({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: D('a'), size: 10 },
    layers: [{ mediaType: MT.ociLayerZstd, digest: D('b'), size: 20 }],
    ...over,
  });

describe('parsing manifests', () => {
  it('refuses a manifest naming more layers than the limit (1000 layers), before any download', () => {
    const layers = Array.from({ length: 1000 }, () => ({ mediaType: MT.ociLayerZstd, digest: D('b'), size: 20 }));
    expect(() => parseManifest(manifest({ layers }), undefined, 'm')).toThrow(`manifest has 1000 layers, over the limit of ${MAX_LAYERS}`);
    expect(parseManifest(manifest({ layers: layers.slice(0, MAX_LAYERS) }), undefined, 'm').kind).toBe('manifest');
  });

  it('reads an OCI manifest, a Docker schema2 manifest and an index (also told apart by shape without mediaType)', () => {
    expect(parseManifest(manifest(), undefined, 'm')).toMatchObject({ kind: 'manifest', layers: [{ digest: D('b') }] });
    const docker = enc({
      schemaVersion: 2,
      mediaType: MT.dockerManifest,
      config: { mediaType: MT.dockerConfig, digest: D('a'), size: 1 },
      layers: [{ mediaType: MT.dockerLayerGzip, digest: D('c'), size: 1 }],
    });
    expect(parseManifest(docker, MT.dockerManifest, 'm').kind).toBe('manifest');
    const index = enc({ schemaVersion: 2, manifests: [{ mediaType: MT.ociManifest, digest: D('d'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }] });
    expect(parseManifest(index, 'application/json', 'm')).toMatchObject({ kind: 'index', mediaType: MT.ociIndex });
  });

  it('refuses schema 1, unknown media types, artifacts and unsupported layers with a message naming them', () => {
    expect(() => parseManifest(enc({ schemaVersion: 1, name: 'x', fsLayers: [] }), MT.dockerSchema1Signed, 'manifest of "x"')).toThrow(
      /manifest of "x" is invalid: Docker schema 1 manifests are not supported/,
    );
    expect(() => parseManifest(manifest({ mediaType: 'application/vnd.example+json' }), undefined, 'm')).toThrow(/media type "application\/vnd.example\+json" is not an image manifest/);
    expect(() => parseManifest(manifest({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: D('a'), size: 1 } }), undefined, 'm')).toThrow(/not an image config/);
    expect(() => parseManifest(manifest({ layers: [{ mediaType: 'application/x-foo', digest: D('b'), size: 1 }] }), undefined, 'm')).toThrow(/layers\[0\] media type "application\/x-foo"/);
    expect(() => parseManifest(manifest({ layers: [{ mediaType: MT.ociLayer, digest: 'md5:abc', size: 1 }] }), undefined, 'm')).toThrow(/is not sha256/);
    expect(() => parseManifest(manifest({ layers: [{ mediaType: MT.ociLayer, digest: D('b'), size: -1 }] }), undefined, 'm')).toThrow(/non-negative integer/);
    expect(() => parseManifest(Buffer.from('<html>'), 'text/html', 'm')).toThrow(/not JSON/);
  });

  it('checks the image config rootfs', () => {
    const ok = parseImageConfig(enc({ os: 'linux', architecture: 'amd64', config: { User: '1' }, rootfs: { type: 'layers', diff_ids: [D('e')] } }), 'c');
    expect(ok.config.User).toBe('1');
    expect(() => parseImageConfig(enc({ rootfs: { type: 'layers', diff_ids: ['x'] } }), 'c')).toThrow(/diff_ids\[0\]/);
    expect(() => parseImageConfig(enc({}), 'c')).toThrow(/rootfs.type must be "layers"/);
  });
});

describe('platform matching', () => {
  it('matches os/arch, arm64 without a variant as v8, and older arm variants on newer hosts', () => {
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(false);
    expect(platformMatches(hostPlatform(), undefined)).toBe(false);
    expect(hostPlatform().os).toBe('linux');
  });
});
