// `make bench ARGS=peer`: image sharing between nodes, with daemons on loopback pulling one image
// (NEXCAGE_BENCH_PEER_MB of incompressible layers, default 64 MB in 4 layers) from a local
// docker-registry behind a proxy that counts the blob bytes it hands out.
//  1. cold pull from the registry (node A) vs cold pull of the same image from A as a peer (node B);
//  2. NEXCAGE_BENCH_PEER_NODES (default 3) fresh daemons pulling at once: without peers, with each
//     other as peers (no node has it yet), and with each other plus A (which has it) as peers.
// Reported: wall time and registry blob bytes per case.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { call } from '../src/cri/grpc/client.js';
import { buildImage, layer, pushImage } from '../test/support/image-builder.js';
import { RegistryProxy } from '../test/support/registry-proxy.js';
import { freePort, TestRegistry } from '../test/support/registry.js';
import { BenchDaemon, benchConfig } from './bench-daemon.js';
import { single, type Row, type Suite } from './lib.js';

const MiB = 1024 * 1024;

async function node(work: string, name: string, peers: Record<string, unknown>): Promise<BenchDaemon> {
  const dir = join(work, name);
  mkdirSync(dir);
  const d = new BenchDaemon(dir, benchConfig(dir, { peers }));
  await d.start();
  return d;
}

async function pull(d: BenchDaemon, ref: string): Promise<number> {
  const t0 = performance.now();
  await call(d.client.image, 'PullImage', { image: { image: ref } }, 600_000);
  return (performance.now() - t0) / 1000;
}

export const suite: Suite = {
  name: 'peer',
  async run(): Promise<Row[]> {
    const totalMb = Number(process.env.NEXCAGE_BENCH_PEER_MB ?? 64);
    const n = Number(process.env.NEXCAGE_BENCH_PEER_NODES ?? 3);
    const work = mkdtempSync('/var/tmp/nexcage-bench-peer-');
    const registry = await TestRegistry.start({ parent: work });
    const proxy = await RegistryProxy.start({ upstream: registry.url });
    const daemons: BenchDaemon[] = [];
    const rows: Row[] = [];
    try {
      const layers = [];
      for (let i = 0; i < 4; i++) layers.push(await layer([{ path: `l${i}.bin`, content: randomBytes(Math.round((totalMb * MiB) / 4)) }], 'gzip'));
      const img = buildImage({ layers });
      await pushImage(registry.pushTarget, 'bench/peer', ['latest'], img);
      const ref = `${proxy.host}/bench/peer:latest`;
      const mb = (b: number): number => Math.round((b / MiB) * 10) / 10;

      const aAddr = `127.0.0.1:${await freePort()}`;
      // Every node here is 127.0.0.1 to the others: room for all of them under the per-address limit.
      const a = await node(work, 'a', { listenAddress: aAddr, maxUploads: 64 });
      daemons.push(a);
      proxy.blobBytes = 0;
      const fromRegistry = await pull(a, ref);
      rows.push(single('cold pull from the registry', 's', fromRegistry, `${mb(proxy.blobBytes)} MiB of blobs from the registry`));
      const b = await node(work, 'b', { static: [aAddr] });
      daemons.push(b);
      proxy.blobBytes = 0;
      const fromPeer = await pull(b, ref);
      rows.push(single('cold pull from a peer (tag resolved upstream)', 's', fromPeer, `${mb(proxy.blobBytes)} MiB of blobs from the registry`));

      const cases: { name: string; peers: (own: string[], i: number) => Record<string, unknown> }[] = [
        { name: 'without peers', peers: () => ({}) },
        { name: 'peers of each other, none has it', peers: (own, i) => ({ listenAddress: own[i], maxUploads: 64, static: own.filter((_, j) => j !== i) }) },
        { name: 'peers of each other and of a node that has it', peers: (own, i) => ({ listenAddress: own[i], maxUploads: 64, static: [aAddr, ...own.filter((_, j) => j !== i)] }) },
      ];
      for (const [ci, c] of cases.entries()) {
        const own: string[] = [];
        for (let i = 0; i < n; i++) own.push(`127.0.0.1:${await freePort()}`);
        const group: BenchDaemon[] = [];
        for (let i = 0; i < n; i++) {
          const d = await node(work, `c${ci}-${i}`, c.peers(own, i));
          daemons.push(d);
          group.push(d);
        }
        proxy.blobBytes = 0;
        const t0 = performance.now();
        await Promise.all(group.map((d) => pull(d, ref)));
        const seconds = (performance.now() - t0) / 1000;
        rows.push(single(`${n} nodes pulling at once, ${c.name}`, 's', seconds, `${mb(proxy.blobBytes)} MiB of blobs from the registry (image ${mb(img.layers.reduce((s, l) => s + l.blob.length, 0))} MiB)`));
        for (const d of group) await d.stop();
      }
    } finally {
      for (const d of daemons) await d.stop();
      await proxy.stop();
      await registry.stop();
      rmSync(work, { recursive: true, force: true });
    }
    return rows;
  },
};
