// Parsing of indexes, manifests and image configs fetched from a registry: every field we rely on
// is checked, so a malformed document fails the pull with a message instead of a crash later.
import { InvalidArgumentError } from '../lib/errors.js';
import { isDigest } from './digest.js';
import { INDEX_TYPES, layerCompression, MANIFEST_TYPES, MT } from './media-types.js';
import type { Platform } from './platform.js';

/** Most layers an image manifest may name. */
export const MAX_LAYERS = 128;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations: Record<string, string>;
}

/** The OCI image config fields the runtime uses (the rest stays in the stored JSON). */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  StopSignal?: string;
  Volumes?: Record<string, object>;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
}

export interface ImageConfigFile {
  architecture: string;
  os: string;
  variant?: string;
  config: ImageConfig;
  rootfs: { type: string; diff_ids: string[] };
  created?: string;
}

const invalid = (what: string, why: string): never => {
  throw new InvalidArgumentError(`${what} is invalid: ${why}`);
};

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    return invalid(what, `not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return invalid(what, 'not a JSON object');
  return v as Record<string, unknown>;
}

function descriptor(v: unknown, what: string): Descriptor {
  if (typeof v !== 'object' || v === null) return invalid(what, 'descriptor is not an object');
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string') invalid(what, 'descriptor has no mediaType');
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) invalid(what, `descriptor digest ${JSON.stringify(d.digest)} is not sha256:<64 hex>`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) invalid(what, `descriptor size ${JSON.stringify(d.size)} is not a non-negative integer`);
  const out: Descriptor = { mediaType: d.mediaType as string, digest: d.digest as string, size: d.size as number };
  if (typeof d.platform === 'object' && d.platform !== null) {
    const p = d.platform as Record<string, unknown>;
    out.platform = { os: String(p.os ?? ''), architecture: String(p.architecture ?? '') };
    if (typeof p.variant === 'string') out.platform.variant = p.variant;
  }
  if (typeof d.annotations === 'object' && d.annotations !== null) out.annotations = d.annotations as Record<string, string>;
  if (Array.isArray(d.urls)) out.urls = d.urls.map(String);
  return out;
}

/**
 * Parse a manifest or index. The media type comes from the Content-Type header or the
 * document's own `mediaType`; schema1 and unknown types are refused with their name.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined, what: string): ImageIndex | ImageManifest {
  const doc = parseJson(bytes, what);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  let mediaType = declared ?? (header && header !== 'application/json' && header !== 'application/octet-stream' ? header : undefined);
  if (mediaType === undefined) {
    // OCI allows documents without mediaType: tell them apart by shape.
    if (Array.isArray(doc.manifests)) mediaType = MT.ociIndex;
    else if (doc.config !== undefined && Array.isArray(doc.layers)) mediaType = MT.ociManifest;
    else if (doc.schemaVersion === 1) mediaType = MT.dockerSchema1;
    else return invalid(what, 'no mediaType and neither manifests nor config/layers');
  }
  if (mediaType === MT.dockerSchema1 || mediaType === MT.dockerSchema1Signed || doc.schemaVersion === 1) {
    return invalid(what, 'Docker schema 1 manifests are not supported (deprecated; push the image again with schema 2 or OCI)');
  }
  if (doc.schemaVersion !== 2) invalid(what, `schemaVersion ${JSON.stringify(doc.schemaVersion)} is not 2`);
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(doc.manifests)) return invalid(what, 'index has no manifests array');
    return { kind: 'index', mediaType, manifests: doc.manifests.map((m, i) => descriptor(m, `${what} manifests[${i}]`)) };
  }
  if (MANIFEST_TYPES.has(mediaType)) {
    if (!Array.isArray(doc.layers)) return invalid(what, 'manifest has no layers array');
    const config = descriptor(doc.config, `${what} config`);
    if (config.mediaType !== MT.ociConfig && config.mediaType !== MT.dockerConfig) {
      invalid(what, `config media type "${config.mediaType}" is not an image config (artifact, not a runnable image)`);
    }
    // Overlay cannot stack more lower dirs than fit in one page of mount options, and Docker never
    // builds past 127: a manifest naming 1000 layers is hostile, refused before any download.
    if (doc.layers.length > MAX_LAYERS) invalid(what, `manifest has ${doc.layers.length} layers, over the limit of ${MAX_LAYERS}`);
    const layers = doc.layers.map((l, i) => descriptor(l, `${what} layers[${i}]`));
    for (const [i, l] of layers.entries()) {
      if (layerCompression(l.mediaType) === undefined) invalid(what, `layers[${i}] media type "${l.mediaType}" is not a supported layer type`);
    }
    const annotations = typeof doc.annotations === 'object' && doc.annotations !== null ? (doc.annotations as Record<string, string>) : {};
    return { kind: 'manifest', mediaType, config, layers, annotations };
  }
  return invalid(what, `media type "${mediaType}" is not an image manifest or index`);
}

export function parseImageConfig(bytes: Uint8Array, what: string): ImageConfigFile {
  const doc = parseJson(bytes, what);
  const rootfs = doc.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (!rootfs || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) invalid(what, 'rootfs.type must be "layers" with a diff_ids array');
  const diffIds = (rootfs!.diff_ids as unknown[]).map((d, i) => {
    if (typeof d !== 'string' || !isDigest(d)) return invalid(what, `rootfs.diff_ids[${i}] is not sha256:<64 hex>`);
    return d;
  });
  const config = typeof doc.config === 'object' && doc.config !== null ? (doc.config as ImageConfig) : {};
  // The runtime reads these to build the process: a wrong type would split a string into characters
  // or crash the pull later, so it is refused here (null, as Docker writes for unset, is fine).
  const c = config as Record<string, unknown>;
  for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) {
    if (c[k] != null && typeof c[k] !== 'string') invalid(what, `config.${k} is not a string`);
  }
  for (const k of ['Env', 'Entrypoint', 'Cmd'] as const) {
    if (c[k] != null && !(Array.isArray(c[k]) && c[k].every((x) => typeof x === 'string'))) invalid(what, `config.${k} is not a list of strings`);
  }
  const out: ImageConfigFile = {
    architecture: String(doc.architecture ?? ''),
    os: String(doc.os ?? ''),
    config,
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  if (typeof doc.variant === 'string') out.variant = doc.variant;
  if (typeof doc.created === 'string') out.created = doc.created;
  return out;
}
