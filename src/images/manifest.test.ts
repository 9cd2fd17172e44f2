import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../lib/errors.js';
import { MAX_LAYERS, parseImageConfig, parseManifest, type ImageIndex, type ImageManifest } from './manifest.js';
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

const index = (manifests: unknown[], over: Record<string, unknown> = {}): Buffer => enc({ schemaVersion: 2, mediaType: MT.ociIndex, manifests, ...over });
const asIndex = (d: ImageIndex | ImageManifest): ImageIndex => {
  if (d.kind !== 'index') throw new Error(`expected an index, got a ${d.kind}`);
  return d;
};
const asManifest = (d: ImageIndex | ImageManifest): ImageManifest => {
  if (d.kind !== 'manifest') throw new Error(`expected a manifest, got an ${d.kind}`);
  return d;
};
/** The message of the InvalidArgumentError fn throws (the pull fails with INVALID_ARGUMENT). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('telling manifests and indexes apart', () => {
  it('takes the media type from the document, else from Content-Type (parameters dropped), else from the shape', () => {
    const noType = (over: Record<string, unknown> = {}): Buffer => manifest({ mediaType: undefined, ...over });
    expect(parseManifest(noType(), `${MT.dockerManifest}; charset=utf-8`, 'm').mediaType).toBe(MT.dockerManifest);
    expect(parseManifest(noType(), 'application/octet-stream', 'm').mediaType).toBe(MT.ociManifest);
    expect(parseManifest(noType(), undefined, 'm').mediaType).toBe(MT.ociManifest);
    expect(parseManifest(manifest(), MT.dockerManifest, 'm').mediaType).toBe(MT.ociManifest);
    const list = enc({ schemaVersion: 2, manifests: [] });
    expect(parseManifest(list, MT.dockerList, 'm')).toEqual({ kind: 'index', mediaType: MT.dockerList, manifests: [] });
  });

  it('refuses a document without media type whose shape is neither, and schema 1 told by shape', () => {
    expect(refusal(() => parseManifest(enc({ schemaVersion: 2, layers: [] }), undefined, 'manifest of "x"'))).toBe(
      'manifest of "x" is invalid: no mediaType and neither manifests nor config/layers',
    );
    expect(refusal(() => parseManifest(enc({ schemaVersion: 1, name: 'x', fsLayers: [] }), 'application/json', 'm'))).toMatch(/Docker schema 1 manifests are not supported/);
    expect(refusal(() => parseManifest(enc({ schemaVersion: 1, mediaType: MT.ociManifest }), undefined, 'm'))).toMatch(/Docker schema 1/);
    expect(refusal(() => parseManifest(manifest({ mediaType: MT.dockerSchema1 }), undefined, 'm'))).toMatch(/Docker schema 1/);
  });

  it('refuses a document that is not a JSON object or has the wrong schemaVersion', () => {
    expect(refusal(() => parseManifest(enc([1, 2]), undefined, 'm'))).toBe('m is invalid: not a JSON object');
    expect(refusal(() => parseManifest(Buffer.from('null'), undefined, 'm'))).toBe('m is invalid: not a JSON object');
    expect(refusal(() => parseManifest(manifest({ schemaVersion: 3 }), undefined, 'm'))).toBe('m is invalid: schemaVersion 3 is not 2');
    expect(refusal(() => parseManifest(manifest({ schemaVersion: undefined }), undefined, 'm'))).toBe('m is invalid: schemaVersion undefined is not 2');
  });

  it('refuses an index without manifests and a manifest without layers or config', () => {
    expect(refusal(() => parseManifest(enc({ schemaVersion: 2, mediaType: MT.ociIndex }), undefined, 'm'))).toBe('m is invalid: index has no manifests array');
    expect(refusal(() => parseManifest(manifest({ layers: {} }), undefined, 'm'))).toBe('m is invalid: manifest has no layers array');
    expect(refusal(() => parseManifest(manifest({ config: undefined }), undefined, 'm'))).toBe('m config is invalid: descriptor is not an object');
  });
});

describe('descriptors', () => {
  it('reads platform (with variant; os.version and os.features are not kept), annotations and urls of index entries', () => {
    const doc = asIndex(
      parseManifest(
        index([
          {
            mediaType: MT.ociManifest,
            digest: D('1'),
            size: 7,
            platform: { os: 'linux', architecture: 'arm', variant: 'v7', 'os.version': '10.0', 'os.features': ['x'] },
            annotations: { 'org.opencontainers.image.ref.name': '1.0' },
            urls: ['https://example.com/blob'],
          },
          { mediaType: MT.ociManifest, digest: D('2'), size: 0, platform: {} },
          { mediaType: MT.ociManifest, digest: D('3'), size: 1 },
        ]),
        undefined,
        'm',
      ),
    );
    expect(doc.manifests[0]).toEqual({
      mediaType: MT.ociManifest,
      digest: D('1'),
      size: 7,
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      annotations: { 'org.opencontainers.image.ref.name': '1.0' },
      urls: ['https://example.com/blob'],
    });
    expect(doc.manifests[1]?.platform).toEqual({ os: '', architecture: '' });
    expect(doc.manifests[2]).toEqual({ mediaType: MT.ociManifest, digest: D('3'), size: 1 });
  });

  it('refuses a bad index entry, naming it by position', () => {
    expect(refusal(() => parseManifest(index([null]), undefined, 'm'))).toBe('m manifests[0] is invalid: descriptor is not an object');
    expect(refusal(() => parseManifest(index([{ mediaType: MT.ociManifest, digest: D('1'), size: 1 }, { digest: D('2'), size: 1 }]), undefined, 'm'))).toBe(
      'm manifests[1] is invalid: descriptor has no mediaType',
    );
    expect(refusal(() => parseManifest(index([{ mediaType: MT.ociManifest, digest: D('1'), size: 1.5 }]), undefined, 'm'))).toBe(
      'm manifests[0] is invalid: descriptor size 1.5 is not a non-negative integer',
    );
    expect(refusal(() => parseManifest(index([{ mediaType: MT.ociManifest, size: 1 }]), undefined, 'm'))).toBe(
      'm manifests[0] is invalid: descriptor digest undefined is not sha256:<64 hex>',
    );
  });
});

describe('image manifests', () => {
  it('accepts every layer media type a pull can unpack', () => {
    const types = [MT.ociLayer, MT.ociLayerGzip, MT.ociLayerZstd, MT.ociLayerNd, MT.ociLayerNdGzip, MT.ociLayerNdZstd, MT.dockerLayer, MT.dockerLayerGzip, MT.dockerForeignGzip];
    const layers = types.map((mediaType, i) => ({ mediaType, digest: D(String(i)), size: i }));
    const doc = asManifest(parseManifest(manifest({ layers }), undefined, 'm'));
    expect(doc.layers.map((l) => l.mediaType)).toEqual(types);
    expect(doc.config).toEqual({ mediaType: MT.ociConfig, digest: D('a'), size: 10 });
  });

  it('keeps the manifest annotations, and has none when the document has none', () => {
    expect(asManifest(parseManifest(manifest({ annotations: { 'org.opencontainers.image.base.name': 'alpine' } }), undefined, 'm')).annotations).toEqual({
      'org.opencontainers.image.base.name': 'alpine',
    });
    expect(asManifest(parseManifest(manifest(), undefined, 'm')).annotations).toEqual({});
  });
});

describe('image configs', () => {
  const config = (over: Record<string, unknown>): Buffer => enc({ os: 'linux', architecture: 'arm64', rootfs: { type: 'layers', diff_ids: [D('e')] }, ...over });

  it('reads platform, creation time and the process fields; Docker nulls are accepted', () => {
    const c = parseImageConfig(
      config({ variant: 'v8', created: '2024-01-01T00:00:00Z', config: { Env: ['PATH=/bin'], Entrypoint: null, Cmd: ['sh'], WorkingDir: '/w', User: '65534:65534', StopSignal: 'SIGQUIT' } }),
      'c',
    );
    expect(c).toEqual({
      architecture: 'arm64',
      os: 'linux',
      variant: 'v8',
      created: '2024-01-01T00:00:00Z',
      config: { Env: ['PATH=/bin'], Entrypoint: null, Cmd: ['sh'], WorkingDir: '/w', User: '65534:65534', StopSignal: 'SIGQUIT' },
      rootfs: { type: 'layers', diff_ids: [D('e')] },
    });
  });

  it('reads a config without platform or process fields as empty', () => {
    const c = parseImageConfig(enc({ rootfs: { type: 'layers', diff_ids: [] } }), 'c');
    expect(c).toEqual({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } });
  });

  it('refuses process fields of the wrong type, naming the field, instead of running a mangled command', () => {
    expect(refusal(() => parseImageConfig(config({ config: { Entrypoint: '/bin/sh -c' } }), 'config of "x"'))).toBe('config of "x" is invalid: config.Entrypoint is not a list of strings');
    expect(refusal(() => parseImageConfig(config({ config: { Env: ['A=1', 2] } }), 'c'))).toBe('c is invalid: config.Env is not a list of strings');
    expect(refusal(() => parseImageConfig(config({ config: { Cmd: 'sh' } }), 'c'))).toBe('c is invalid: config.Cmd is not a list of strings');
    expect(refusal(() => parseImageConfig(config({ config: { User: 1000 } }), 'c'))).toBe('c is invalid: config.User is not a string');
    expect(refusal(() => parseImageConfig(config({ config: { WorkingDir: ['/w'] } }), 'c'))).toBe('c is invalid: config.WorkingDir is not a string');
    expect(refusal(() => parseImageConfig(config({ config: { StopSignal: 15 } }), 'c'))).toBe('c is invalid: config.StopSignal is not a string');
  });

  it('refuses a rootfs that is not of type layers', () => {
    expect(refusal(() => parseImageConfig(config({ rootfs: { type: 'squashfs', diff_ids: [] } }), 'c'))).toBe('c is invalid: rootfs.type must be "layers" with a diff_ids array');
    expect(refusal(() => parseImageConfig(enc('config'), 'c'))).toBe('c is invalid: not a JSON object');
  });
});

describe('choosing an index entry for the node', () => {
  it('picks by os/arch and variant; an entry without variant runs on any variant of its arch', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64', variant: 'v9' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64', variant: 'v3' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'unknown', architecture: 'unknown' })).toBe(false);
  });
});
