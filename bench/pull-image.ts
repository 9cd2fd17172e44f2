// The pull benchmark's image: 5 layers of ~43 MB of tar each (20 files of 1.5 MB and 1,080 of
// 12 KB, base64 text of random bytes, so gzip keeps ~75% of it: ~215 MB unpacked, ~160 MB on the
// wire, 5,500 files). Twins share the layout but not a byte, so every pull is cold and no run
// needs the previous run's files deleted first.
import { randomBytes } from 'node:crypto';
import { buildImage, layer, pushImage, type BuiltImage, type Compression, type LayerEntry, type PushTarget } from '../test/support/image-builder.js';

export const LAYERS = 5;
const BIG_FILES = 20;
const BIG_BYTES = 1_500_000;
const SMALL_FILES = 1080;
const SMALL_BYTES = 12_000;

/** Text that compresses like real content does (6 bits of entropy per byte). */
function content(bytes: number): Buffer {
  return Buffer.from(randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes));
}

function layerEntries(i: number, scale: number): LayerEntry[] {
  const out: LayerEntry[] = [
    { path: `layer${i}/`, type: 'dir' },
    { path: `layer${i}/small/`, type: 'dir' },
  ];
  for (let f = 0; f < Math.max(1, Math.round(BIG_FILES * scale)); f++) out.push({ path: `layer${i}/big-${f}.txt`, content: content(BIG_BYTES) });
  for (let f = 0; f < Math.max(1, Math.round(SMALL_FILES * scale)); f++) out.push({ path: `layer${i}/small/f-${f}.txt`, content: content(SMALL_BYTES) });
  return out;
}

export interface TwinImage {
  image: BuiltImage;
  /** Bytes on the wire (layers + config + manifest) and of tar. */
  wireBytes: number;
  tarBytes: number;
  files: number;
}

/** Build a fresh twin (`scale` 1 = full size) and push it as `<repo>:latest`. */
export async function pushTwin(target: PushTarget, repo: string, compression: Compression, scale = 1): Promise<TwinImage> {
  const layers = [];
  for (let i = 0; i < LAYERS; i++) layers.push(await layer(layerEntries(i, scale), compression));
  const image = buildImage({ layers });
  await pushImage(target, repo, ['latest'], image);
  return {
    image,
    wireBytes: image.configBytes.length + image.manifestBytes.length + layers.reduce((s, l) => s + l.blob.length, 0),
    tarBytes: layers.reduce((s, l) => s + l.tar.length, 0),
    files: LAYERS * (Math.max(1, Math.round(BIG_FILES * scale)) + Math.max(1, Math.round(SMALL_FILES * scale))),
  };
}
