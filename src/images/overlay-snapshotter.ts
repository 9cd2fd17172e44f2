// Snapshots on disk: <root>/<chainID hex>/fs (the layer's files, whiteouts already in overlayfs
// form) and <root>/<hex>/snapshot.json. A snapshot is built in <root>/.tmp-* and renamed into
// place, so a crash mid-unpack leaves only a temp dir, which init() removes.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../lib/fsutil.js';
import { digestHex } from './digest.js';
import type { Snapshot, SnapshotStats, Snapshotter } from './snapshotter.js';

export class OverlaySnapshotter implements Snapshotter {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly inflight = new Map<string, Promise<Snapshot>>();

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    for (const name of await readdir(this.root)) {
      const dir = join(this.root, name);
      if (name.startsWith('.tmp-')) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      const meta = await readJsonIfExists<Snapshot>(join(dir, 'snapshot.json'));
      // A directory without its record was never committed (renamed last): drop it.
      if (!meta || digestHex(meta.chainId) !== name) await rm(dir, { recursive: true, force: true });
      else this.snapshots.set(meta.chainId, meta);
    }
  }

  get(chainId: string): Snapshot | undefined {
    return this.snapshots.get(chainId);
  }

  list(): Snapshot[] {
    return [...this.snapshots.values()];
  }

  fsPath(chainId: string): string {
    return join(this.root, digestHex(chainId), 'fs');
  }

  create(chainId: string, diffId: string, parent: string | undefined, fill: (dir: string) => Promise<SnapshotStats>): Promise<Snapshot> {
    const have = this.snapshots.get(chainId);
    if (have) return Promise.resolve(have);
    const running = this.inflight.get(chainId);
    if (running) return running;
    const p = this.build(chainId, diffId, parent, fill).finally(() => this.inflight.delete(chainId));
    this.inflight.set(chainId, p);
    return p;
  }

  private async build(chainId: string, diffId: string, parent: string | undefined, fill: (dir: string) => Promise<SnapshotStats>): Promise<Snapshot> {
    const tmp = join(this.root, `.tmp-${digestHex(chainId).slice(0, 12)}-${randomBytes(4).toString('hex')}`);
    await mkdir(join(tmp, 'fs'), { recursive: true, mode: 0o755 });
    try {
      const stats = await fill(join(tmp, 'fs'));
      const snap: Snapshot = { chainId, diffId, usedBytes: stats.usedBytes, inodes: stats.inodes, createdAt: new Date().toISOString() };
      if (parent !== undefined) snap.parent = parent;
      await atomicWriteJson(join(tmp, 'snapshot.json'), snap);
      await rename(tmp, join(this.root, digestHex(chainId)));
      this.snapshots.set(chainId, snap);
      return snap;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async remove(chainId: string): Promise<void> {
    if (this.inflight.has(chainId)) return;
    this.snapshots.delete(chainId);
    const dir = join(this.root, digestHex(chainId));
    // Rename first so a crash mid-delete leaves a temp dir (cleaned at start), never a half snapshot.
    const doomed = join(this.root, `.tmp-rm-${randomBytes(6).toString('hex')}`);
    try {
      await rename(dir, doomed);
    } catch {
      return;
    }
    await rm(doomed, { recursive: true, force: true });
  }
}
