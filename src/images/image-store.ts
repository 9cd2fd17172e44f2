// Image records and leases, persisted one JSON file each (atomic writes) and held in memory.
// <root>/<config hex>.json is what was pulled; <root>/leases/<sha256(holder)>.json pins an image's
// snapshots for a holder (a container) even after the image itself is removed.
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../lib/fsutil.js';
import { digestHex, sha256 } from './digest.js';
import type { Descriptor, ImageConfig } from './manifest.js';
import type { Platform } from './platform.js';

export interface ImageRecord {
  /** Image id: the config digest. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Bytes of manifest, config and compressed layers (what the registry served). */
  size: number;
  config: ImageConfig;
  diffIds: string[];
  /** Bottom-most layer first. */
  chainIds: string[];
  layers: Descriptor[];
  manifestDigest: string;
  manifestMediaType: string;
  /** The index the manifest was chosen from, when the reference named one. */
  indexDigest?: string;
  platform: Platform;
  annotations: Record<string, string>;
  pinned: boolean;
  /** From config User: a numeric uid, or a user name. */
  uid?: number;
  username?: string;
  pulledAt: string;
}

export interface Lease {
  holder: string;
  imageId: string;
  chainIds: string[];
}

export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();
  private readonly leases = new Map<string, Lease>();

  constructor(readonly root: string) {}

  private imagePath(id: string): string {
    return join(this.root, `${digestHex(id)}.json`);
  }
  private leasePath(holder: string): string {
    return join(this.root, 'leases', `${digestHex(sha256(holder))}.json`);
  }

  async init(): Promise<void> {
    await mkdir(join(this.root, 'leases'), { recursive: true });
    for (const name of await readdir(this.root)) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      const rec = await readJsonIfExists<ImageRecord>(join(this.root, name));
      if (rec) this.images.set(rec.id, rec);
    }
    for (const name of await readdir(join(this.root, 'leases'))) {
      if (!name.endsWith('.json')) continue;
      const l = await readJsonIfExists<Lease>(join(this.root, 'leases', name));
      if (l) this.leases.set(l.holder, l);
    }
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  async put(rec: ImageRecord): Promise<void> {
    await atomicWriteJson(this.imagePath(rec.id), rec);
    this.images.set(rec.id, rec);
  }

  async delete(id: string): Promise<void> {
    await rm(this.imagePath(id), { force: true });
    this.images.delete(id);
  }

  leaseList(): Lease[] {
    return [...this.leases.values()];
  }

  getLease(holder: string): Lease | undefined {
    return this.leases.get(holder);
  }

  async putLease(l: Lease): Promise<void> {
    await atomicWriteJson(this.leasePath(l.holder), l);
    this.leases.set(l.holder, l);
  }

  async deleteLease(holder: string): Promise<void> {
    await rm(this.leasePath(holder), { force: true });
    this.leases.delete(holder);
  }
}
