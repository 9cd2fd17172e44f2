// `make bench ARGS=pull`: pull + unpack of a generated ~200 MB image in 5 layers from a local
// docker-registry, cold (empty store) and warm (image already present), against `skopeo copy` to
// an OCI dir + `umoci unpack` of the same image in the same run as the reference.
//
// Every run unpacks into a fresh directory and nothing is deleted until all runs are done: this
// disk creates files more slowly for minutes after a mass delete, which would penalise whichever
// tool ran right after one. Runs alternate ours / reference for the same reason.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, layer, pushImage, type LayerEntry } from '../test/support/image-builder.js';
import { TestRegistry } from '../test/support/registry.js';
import { run } from '../src/lib/exec.js';
import { DistributionClient } from '../src/images/distribution-client.js';
import { ImageManager } from '../src/images/image-manager.js';
import { ImageStore } from '../src/images/image-store.js';
import { LocalContentStore } from '../src/images/local-content-store.js';
import { OverlaySnapshotter } from '../src/images/overlay-snapshotter.js';
import { silentLogger } from '../src/lib/log.js';
import { single, summarize, timeMs, type Row, type Suite } from './lib.js';

const LAYERS = 5;
const BIG_FILES = 30; // x 1 MiB of random bytes per layer
const SMALL_FILES = 1000; // x 10 KiB per layer
const RUNS = 5;

function layerEntries(i: number): LayerEntry[] {
  const out: LayerEntry[] = [{ path: `layer${i}/`, type: 'dir' }, { path: `layer${i}/small/`, type: 'dir' }];
  for (let f = 0; f < BIG_FILES; f++) out.push({ path: `layer${i}/big-${f}.bin`, content: randomBytes(1024 * 1024) });
  for (let f = 0; f < SMALL_FILES; f++) out.push({ path: `layer${i}/small/f-${f}.bin`, content: randomBytes(10 * 1024) });
  return out;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function ourManager(root: string, client: DistributionClient): Promise<ImageManager> {
  const content = new LocalContentStore(join(root, 'content'));
  const snapshots = new OverlaySnapshotter(join(root, 'snapshots'));
  const store = new ImageStore(join(root, 'images'));
  await content.init();
  await snapshots.init();
  await store.init();
  return new ImageManager({ registry: client, content, snapshots, store, root, log: silentLogger(), maxConcurrentDownloads: () => 3 });
}

export const suite: Suite = {
  name: 'pull',
  async run(): Promise<Row[]> {
    const work = mkdtempSync('/var/tmp/nexcage-bench-pull-');
    const registry = await TestRegistry.start({ parent: work });
    const client = new DistributionClient({
      settings: { mirrors: {}, insecure: [], caFiles: [], credentialsFile: '', noProgressTimeoutSeconds: 60 },
      log: silentLogger(),
    });
    try {
      const layers = [];
      for (let i = 0; i < LAYERS; i++) layers.push(await layer(layerEntries(i), 'gzip'));
      const img = buildImage({ layers });
      await pushImage(registry.pushTarget, 'bench/image', ['latest'], img);
      const wireMB = (img.configBytes.length + img.manifestBytes.length + layers.reduce((s, l) => s + l.blob.length, 0)) / 1e6;
      const tarMB = layers.reduce((s, l) => s + l.tar.length, 0) / 1e6;
      const ref = `${registry.host}/bench/image:latest`;
      // Let the push's writes reach the disk before anything is timed.
      await run('sync', []);

      const ours: number[] = [];
      const oursWarm: number[] = [];
      const refCopy: number[] = [];
      const refUnpack: number[] = [];
      const refTotal: number[] = [];
      const refWarm: number[] = [];
      const runOurs = async (r: number): Promise<void> => {
        const root = join(work, `ours-${r}`);
        mkdirSync(root);
        const m = await ourManager(root, client);
        ours.push(await timeMs(() => m.pull(ref)));
        oursWarm.push(await timeMs(() => m.pull(ref)));
      };
      const runReference = async (r: number): Promise<void> => {
        const oci = join(work, `oci-${r}`);
        const bundle = join(work, `bundle-${r}`);
        const skopeo = ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${oci}:latest`];
        const copy = await timeMs(() => run('skopeo', skopeo, { timeoutMs: 600_000 }));
        const unpack = await timeMs(() => run('umoci', ['unpack', '--image', `${oci}:latest`, bundle], { timeoutMs: 600_000 }));
        refCopy.push(copy);
        refUnpack.push(unpack);
        refTotal.push(copy + unpack);
        refWarm.push(await timeMs(() => run('skopeo', skopeo, { timeoutMs: 600_000 })));
      };
      // Alternate who goes first, so neither always runs right after the other's writes.
      for (let r = 0; r < RUNS; r++) {
        if (r % 2 === 0) {
          await runOurs(r);
          await runReference(r);
        } else {
          await runReference(r);
          await runOurs(r);
        }
      }
      const mbps = (ms: number[]): number[] => ms.map((v) => wireMB / (v / 1000));
      const note = `${wireMB.toFixed(0)} MB gzip on the wire, ${tarMB.toFixed(0)} MB of tar, ${LAYERS} layers, ${LAYERS * (BIG_FILES + SMALL_FILES)} files; fresh dirs per run`;
      return [
        summarize('nexcage pull+unpack, cold (empty store)', 's', ours.map((v) => v / 1000), note),
        summarize('nexcage pull+unpack, cold', 'MB/s', mbps(ours)),
        summarize('nexcage pull, warm (image present)', 'ms', oursWarm),
        summarize('skopeo copy + umoci unpack, cold', 's', refTotal.map((v) => v / 1000)),
        summarize('skopeo copy + umoci unpack, cold', 'MB/s', mbps(refTotal)),
        summarize('  skopeo copy to OCI dir', 's', refCopy.map((v) => v / 1000)),
        summarize('  umoci unpack', 's', refUnpack.map((v) => v / 1000)),
        summarize('skopeo copy, warm (blobs present)', 'ms', refWarm),
        single('reference time / nexcage time (medians)', 'x', median(refTotal) / median(ours), 'above 1 = nexcage faster'),
      ];
    } finally {
      client.close();
      await registry.stop();
      rmSync(work, { recursive: true, force: true });
    }
  },
};
