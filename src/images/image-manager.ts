// The image service the CRI layer and the container runtime call: pull (resolve, then each layer
// fetched and unpacked into its chain-ID snapshot as its bytes arrive, verified, then record),
// resolve by id/tag/digest, list, remove with garbage collection of blobs and snapshots nothing
// uses, leases for running containers, and the disk use of the store. Concurrent pulls of one
// reference share one pull, which stops only when all of its callers have gone.
import { mkdir, rm } from 'node:fs/promises';
import PQueue from 'p-queue';
import { DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { abandonable, cancelledError, SharedAbort, throwIfAborted } from './cancellation.js';
import type { ContentStore, IngestOptions } from './content-store.js';
import type { Credentials } from './credentials.js';
import { chainIds as computeChainIds, isDigest } from './digest.js';
import { MAX_MANIFEST_BYTES } from './distribution-client.js';
import type { ImageStore, ImageRecord, Lease } from './image-store.js';
import type { LocalContentStore } from './local-content-store.js';
import { parseImageConfig, parseManifest, type Descriptor, type ImageManifest } from './manifest.js';
import { imageLayers, imagePullBytes, imagePullDuration, imagePulls, imagePullsInFlight } from './metrics.js';
import { formatPlatform, hostPlatform, platformMatches, type Platform } from './platform.js';
import { formatReference, parseReference, repoName, repoTagOf, type ImageReference } from './reference.js';
import type { RegistryClient, RepositoryClient } from './registry-client.js';
import type { Snapshotter } from './snapshotter.js';
import type { RateFloor } from './transfer-rate.js';
import { BufferPool } from './buffer-pool.js';
import { BlobRestarted, followBlob, type GrowingBlob } from './growing-blob.js';
import { pullTracker, summaryLine, type PullProgress } from './pull-progress.js';
import { unpackLayer, unpackStream, type UnpackResult } from './unpack.js';
import { withSpan } from '../lib/tracing.js';

export type { ImageRecord } from './image-store.js';
export type { ImageConfig } from './manifest.js';

export interface ImageManagerOptions {
  registry: RegistryClient;
  content: ContentStore & Pick<LocalContentStore, 'ingests' | 'usage'>;
  snapshots: Snapshotter;
  store: ImageStore;
  /** Directory reported as the image filesystem's mountpoint. */
  root: string;
  log: Logger;
  /** Read per pull (the setting can be reloaded). */
  maxConcurrentDownloads: () => number;
  /** Refuse a compressed layer that unpacks to more than this many times its size (0 = no limit). */
  maxDecompressionRatio?: () => number;
  /** Drop (and resume) a blob connection averaging below this; read per pull. */
  minBlobRate?: () => RateFloor;
  /** References whose images are pinned (the infra/pause image). */
  pinned?: string[];
  platform?: Platform;
}

export interface FsUsage {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
  /** Unix time in milliseconds. */
  timestampMs: number;
}

export interface PullResult {
  image: ImageRecord;
  bytesFetched: number;
  layersFetched: number;
  layersReused: number;
}

/**
 * ImageSpec annotation of a PullImage whose caller may stop waiting (`nexcage pull` on Ctrl-C)
 * without stopping the pull: it is pulled to the end as if nobody had asked for it to stop.
 */
export const PULL_DETACH_ANNOTATION = 'nexcage.io/pull-detach';

/** How often a running pull logs its progress. */
const PROGRESS_LOG_MS = 5000;

interface SharedPull {
  done: Promise<PullResult>;
  shared: SharedAbort;
}

export class ImageManager {
  private readonly pulls = new Map<string, SharedPull>();
  /** Blobs and snapshots a running pull has made but not yet recorded: GC keeps them. */
  private readonly pinnedByPulls = new Set<{ digests: Set<string>; chainIds: Set<string> }>();
  private lock: Promise<unknown> = Promise.resolve();
  private readonly platform: Platform;
  private readonly pinnedRefs: Set<string>;

  constructor(private readonly o: ImageManagerOptions) {
    this.platform = o.platform ?? hostPlatform();
    this.pinnedRefs = new Set((o.pinned ?? []).filter((r) => r !== '').map((r) => formatReference(parseReference(r))));
  }

  /** Serialise changes to the record set (pull commits, removes, leases, GC). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /**
   * Pull unless a pull of the same reference is running, in which case share it. `signal` is this
   * caller going away: it is answered at once, and the pull itself stops (its downloads' requests
   * destroyed, partials kept, nothing recorded) once every caller sharing it has gone.
   */
  pull(reference: string, credentials?: Credentials, signal?: AbortSignal): Promise<PullResult> {
    const ref = parseReference(reference);
    const name = formatReference(ref);
    const key = name + (ref.digest && ref.tag ? `#${ref.tag}` : '');
    const what = `pull of image "${name}"`;
    if (signal?.aborted) return Promise.reject(cancelledError(what));
    const running = this.pulls.get(key);
    if (running?.shared.signal.aborted) {
      // Its callers all went away and it is winding down: pull afresh once it has settled.
      const settled = running.done.then(
        () => undefined,
        () => undefined,
      );
      return abandonable(settled, signal, () => cancelledError(what)).then(() => this.pull(reference, credentials, signal));
    }
    if (running) {
      running.shared.join(signal);
      return abandonable(running.done, signal, () => cancelledError(what));
    }
    const shared = new SharedAbort();
    shared.join(signal);
    const entry: SharedPull = {
      shared,
      done: this.doPull(ref, credentials, shared.signal).finally(() => {
        if (this.pulls.get(key) === entry) this.pulls.delete(key);
        shared.dispose();
      }),
    };
    this.pulls.set(key, entry);
    return abandonable(entry.done, signal, () => cancelledError(what));
  }

  private async doPull(ref: ImageReference, credentials: Credentials | undefined, signal: AbortSignal): Promise<PullResult> {
    const started = process.hrtime.bigint();
    const name = formatReference(ref);
    imagePullsInFlight.inc();
    const guard = { digests: new Set<string>(), chainIds: new Set<string>() };
    this.pinnedByPulls.add(guard);
    const progress = pullTracker.start(name);
    // A pull that takes a while says how far it is, every few seconds.
    const ticker = setInterval(() => {
      const v = progress.view();
      this.o.log.info({ ref: name, phase: v.phase, downloadedBytes: v.downloadedBytes, unpackedBytes: v.unpackedBytes, totalBytes: v.totalBytes, bytesPerSecond: v.downloadBytesPerSecond, etaSeconds: v.etaSeconds }, `image pull progress: ${summaryLine(v)}`);
    }, PROGRESS_LOG_MS);
    ticker.unref();
    try {
      const result = await withSpan('image.pull', { 'image.ref': name }, () => this.fetchAndUnpack(ref, credentials, guard, signal, progress));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      imagePulls.inc({ result: 'success' });
      imagePullDuration.observe(seconds);
      this.o.log.info(
        {
          ref: name,
          imageId: result.image.id,
          digest: result.image.indexDigest ?? result.image.manifestDigest,
          bytes: result.bytesFetched,
          layers: result.image.chainIds.length,
          layersFetched: result.layersFetched,
          layersReused: result.layersReused,
          durationMs: Math.round(seconds * 1000),
        },
        'image pulled',
      );
      return result;
    } catch (err) {
      if (signal.aborted) {
        // Not a failure of the pull: nobody wants the image any more. Its partials stay for the next pull.
        imagePulls.inc({ result: 'cancelled' });
        this.o.log.info({ ref: name, durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e6) }, 'image pull cancelled: every caller went away');
        throw cancelledError(`pull of image "${name}"`);
      }
      imagePulls.inc({ result: 'failure' });
      this.o.log.warn({ ref: name, error: errorMessage(err) }, 'image pull failed');
      // Refused content (bad layer, digest, manifest) leaves nothing behind; after a network
      // failure the blobs already fetched stay for the retry (collected by the next GC otherwise).
      if (!(err instanceof UnavailableError || err instanceof DeadlineExceededError)) {
        this.pinnedByPulls.delete(guard);
        await this.gc(false).catch((e: unknown) => this.o.log.warn({ error: errorMessage(e) }, 'image gc after a failed pull failed'));
      }
      throw err;
    } finally {
      clearInterval(ticker);
      pullTracker.end(progress);
      this.pinnedByPulls.delete(guard);
      imagePullsInFlight.dec();
    }
  }

  private async fetchAndUnpack(
    ref: ImageReference,
    credentials: Credentials | undefined,
    guard: { digests: Set<string>; chainIds: Set<string> },
    signal: AbortSignal,
    progress: PullProgress,
  ): Promise<PullResult> {
    const name = formatReference(ref);
    const repo = this.o.registry.repository(ref, credentials);
    const top = await repo.getManifest(ref.digest ?? ref.tag ?? 'latest', signal);
    if (ref.digest && top.digest !== ref.digest) {
      throw new FailedPreconditionError(`image "${name}": registry served a manifest with digest ${top.digest}, not the ${ref.digest} asked for`);
    }
    let doc = parseManifest(top.bytes, top.contentType, `manifest of "${name}"`);
    let manifestBytes = top.bytes;
    let manifestDigest = top.digest;
    let indexDigest: string | undefined;
    if (doc.kind === 'index') {
      indexDigest = top.digest;
      const choice = doc.manifests.find((m) => platformMatches(this.platform, m.platform));
      if (!choice) {
        const offered = doc.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'unknown')).join(', ');
        throw new NotFoundError(`image "${name}" has no manifest for platform ${formatPlatform(this.platform)} (index offers: ${offered || 'nothing'})`);
      }
      const m = await repo.getManifest(choice.digest, signal);
      if (m.digest !== choice.digest) throw new FailedPreconditionError(`image "${name}": manifest digest mismatch: expected ${choice.digest}, got ${m.digest}`);
      doc = parseManifest(m.bytes, m.contentType ?? choice.mediaType, `manifest ${choice.digest} of "${name}"`);
      if (doc.kind === 'index') throw new InvalidArgumentError(`image "${name}": index ${top.digest} points at another index (${choice.digest})`);
      manifestBytes = m.bytes;
      manifestDigest = m.digest;
      guard.digests.add(indexDigest);
    }
    const manifest: ImageManifest = doc;
    guard.digests.add(manifestDigest);
    guard.digests.add(manifest.config.digest);
    for (const l of manifest.layers) guard.digests.add(l.digest);

    if (manifest.config.size > MAX_MANIFEST_BYTES) throw new InvalidArgumentError(`image "${name}": config is ${manifest.config.size} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`);
    let bytesFetched = 0;
    const countBytes = (n: number): void => {
      bytesFetched += n;
      imagePullBytes.inc(n);
    };
    const fetchOpts = { onBytes: countBytes, signal, ...(this.o.minBlobRate ? { minRate: this.o.minBlobRate() } : {}) };
    await this.fetchBlob(repo, manifest.config, fetchOpts);
    const configFile = parseImageConfig(await this.o.content.read(manifest.config.digest, MAX_MANIFEST_BYTES), `config ${manifest.config.digest} of "${name}"`);
    const diffIds = configFile.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new InvalidArgumentError(`image "${name}": the config lists ${diffIds.length} diff IDs for ${manifest.layers.length} layers`);
    }
    const chains = computeChainIds(diffIds);
    for (const c of chains) guard.chainIds.add(c);

    // Each layer unpacks as its bytes arrive (read back behind the download), into its own
    // snapshot, all at once: overlay snapshots do not need their parent's files, whiteouts are
    // recorded as overlay whiteouts. Snapshots are still committed bottom-up.
    const missing = manifest.layers.map((layer, i) => ({ layer, i })).filter(({ i }) => !this.o.snapshots.get(chains[i] as string));
    const reused = manifest.layers.length - missing.length;
    imageLayers.inc({ source: 'reused' }, reused);
    const missingIdx = new Set(missing.map((m) => m.i));
    progress.setLayers(manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, reused: !missingIdx.has(i) })));
    progress.phase = 'download';
    const downloads = new PQueue({ concurrency: this.o.maxConcurrentDownloads() });
    // As many unpacks at once as downloads: more only adds decompressor windows and buffers (the
    // CPU is the limit by then); a layer waiting for its turn is read back from its file later.
    const unpacks = new PQueue({ concurrency: this.o.maxConcurrentDownloads() });
    let downloadsLeft = missing.length;
    const downloaded = (): void => {
      if (--downloadsLeft === 0) progress.phase = 'unpack';
    };
    let below: Promise<unknown> = Promise.resolve();
    const jobs = missing.map(({ layer, i }) => {
      const parentDone = below;
      const job = this.o.snapshots.create(chains[i] as string, diffIds[i] as string, i > 0 ? chains[i - 1] : undefined, async (dir) => {
        const r = await this.fetchAndUnpackLayer({ repo, layer, i, dir, fetchOpts, downloads, unpacks, progress, signal, downloaded });
        if (r.diffId !== diffIds[i]) {
          throw new FailedPreconditionError(`image "${name}": layer ${i} (${layer.digest}) unpacks to diff ID ${r.diffId}, but the config says ${diffIds[i] as string}`);
        }
        // Committed only on top of its parent (which fails this one if it failed).
        await parentDone;
        return { usedBytes: r.usedBytes, inodes: r.inodes };
      });
      below = job;
      return job.then(() => {
        progress.layerPhase(i, 'done');
        imageLayers.inc({ source: 'fetched' });
      });
    });
    await settleAll(jobs);
    const fetched = missing.length;

    progress.phase = 'commit';
    // Manifest and index are kept too: they are what the repo digest names.
    await this.o.content.put(manifestDigest, manifestBytes);
    if (indexDigest) await this.o.content.put(indexDigest, top.bytes);

    const size = manifestBytes.length + manifest.config.size + manifest.layers.reduce((s, l) => s + l.size, 0);
    // A pull nobody waits for any more records nothing (its blobs and snapshots are reused next time).
    throwIfAborted(signal, `pull of image "${name}"`);
    const image = await this.exclusive(() =>
      this.record(ref, {
        id: manifest.config.digest,
        size,
        config: configFile.config,
        diffIds,
        chainIds: chains,
        layers: manifest.layers,
        manifestDigest,
        manifestMediaType: manifest.mediaType,
        ...(indexDigest ? { indexDigest } : {}),
        platform: { os: configFile.os, architecture: configFile.architecture, ...(configFile.variant ? { variant: configFile.variant } : {}) },
        annotations: manifest.annotations,
        ...userOf(configFile.config.User),
        pulledAt: new Date().toISOString(),
      }),
    );
    return { image, bytesFetched, layersFetched: fetched, layersReused: reused };
  }

  /**
   * Download one layer and unpack it into `dir` as its bytes arrive. The download's failure is the
   * layer's failure (its digest is checked at the end, and the unpack fails with it); a download
   * that starts its file over makes the unpack start over from the committed blob.
   */
  private async fetchAndUnpackLayer(a: {
    repo: RepositoryClient;
    layer: Descriptor;
    i: number;
    dir: string;
    fetchOpts: IngestOptions;
    downloads: PQueue;
    unpacks: PQueue;
    progress: PullProgress;
    signal: AbortSignal;
    downloaded: () => void;
  }): Promise<UnpackResult> {
    const { layer, i, dir, progress, signal } = a;
    let feed!: (b: GrowingBlob) => void;
    const fed = new Promise<GrowingBlob>((resolve) => (feed = resolve));
    const dl = a.downloads
      .add(() => {
        throwIfAborted(signal, `download of layer ${layer.digest}`);
        progress.layerPhase(i, 'download');
        return this.fetchBlob(a.repo, layer, {
          ...a.fetchOpts,
          onBytes: (n) => {
            a.fetchOpts.onBytes?.(n);
            progress.addDownloaded(i, n);
          },
          onBlob: feed,
        });
      })
      .finally(a.downloaded);
    const maxRatio = this.o.maxDecompressionRatio?.() ?? 0;
    let followed: { blob: GrowingBlob; generation: number } | undefined;
    const unpack = Promise.race([fed, dl.then(() => undefined)]).then((blob) =>
      a.unpacks.add(() =>
        withSpan('image.unpack', { 'image.layer': layer.digest, 'image.layer_index': i }, () => {
          if (!blob) return unpackLayer(this.o.content.path(layer.digest), dir, { maxRatio });
          followed = { blob, generation: blob.generation };
          return unpackFollowing(blob, layer.size, dir, { maxRatio, signal, onRead: (n) => progress.addUnpacked(i, n) });
        }),
      ),
    );
    const [d, u] = await Promise.allSettled([dl.then(() => progress.layerPhase(i, 'unpack')), unpack]);
    if (d.status === 'rejected') throw d.reason;
    if (u.status === 'fulfilled') return u.value;
    // The unpack read bytes the download then threw away (a stale partial, a server ignoring
    // Range): whatever it made of them says nothing about the verified blob. Unpack that instead.
    const discarded = u.reason instanceof BlobRestarted || (followed !== undefined && followed.blob.generation !== followed.generation);
    if (!discarded) throw u.reason;
    throwIfAborted(signal, `unpack of layer ${layer.digest}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o755 });
    return unpackLayer(this.o.content.path(layer.digest), dir, { maxRatio });
  }

  private async fetchBlob(repo: RepositoryClient, desc: Descriptor, opts: IngestOptions): Promise<void> {
    await withSpan('image.fetch', { 'image.blob': desc.digest, 'image.blob_size': desc.size }, () =>
      this.o.content.ingest(
        desc,
        // The download's own signal, not this pull's: another pull may share the download and stay.
        async (offset, downloadSignal) => {
          const b = await repo.openBlob(desc.digest, offset, desc.size, downloadSignal);
          return { body: b.body, start: b.start, origin: b.endpoint, owned: true };
        },
        opts,
      ),
    );
  }

  /** Add the image (or merge into its record): the tag moves here from any other image. */
  private async record(ref: ImageReference, base: Omit<ImageRecord, 'repoTags' | 'repoDigests' | 'pinned'>): Promise<ImageRecord> {
    const tag = repoTagOf(ref);
    const repoDigest = `${repoName(ref)}@${base.indexDigest ?? base.manifestDigest}`;
    if (tag) {
      for (const other of this.o.store.list()) {
        if (other.id !== base.id && other.repoTags.includes(tag)) {
          await this.o.store.put({ ...other, repoTags: other.repoTags.filter((t) => t !== tag) });
        }
      }
    }
    const existing = this.o.store.get(base.id);
    const repoTags = [...new Set([...(existing?.repoTags ?? []), ...(tag ? [tag] : [])])];
    const repoDigests = [...new Set([...(existing?.repoDigests ?? []), repoDigest])];
    const pinned = (existing?.pinned ?? false) || [...this.pinnedRefs].some((p) => repoTags.includes(p) || repoDigests.includes(p));
    const rec: ImageRecord = { ...base, repoTags, repoDigests, pinned, pulledAt: existing?.pulledAt ?? base.pulledAt };
    await this.o.store.put(rec);
    return rec;
  }

  /**
   * Find an image by id (full, or a unique hex prefix), repo tag (normalised: `busybox` is
   * `docker.io/library/busybox:latest`) or repo digest. Undefined when there is none.
   */
  resolve(ref: string): Promise<ImageRecord | undefined> {
    return Promise.resolve(this.lookup(ref));
  }

  lookup(ref: string): ImageRecord | undefined {
    if (ref === '') throw new InvalidArgumentError('image reference is empty');
    const images = this.o.store.list();
    if (isDigest(ref)) {
      const byId = this.o.store.get(ref);
      if (byId) return byId;
    }
    if (/^[a-f0-9]{64}$/.test(ref)) {
      const byId = this.o.store.get(`sha256:${ref}`);
      if (byId) return byId;
    }
    let parsed: ImageReference | undefined;
    try {
      parsed = parseReference(ref);
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      if (parsed.digest) {
        const want = `${repoName(parsed)}@${parsed.digest}`;
        const hit = images.find((i) => i.repoDigests.includes(want));
        if (hit) return hit;
      } else {
        const want = repoTagOf(parsed);
        const hit = images.find((i) => want !== undefined && i.repoTags.includes(want));
        if (hit) return hit;
      }
    }
    const m = /^(?:sha256:)?([a-f0-9]{3,63})$/.exec(ref);
    if (m) {
      const found = images.filter((i) => i.id.startsWith(`sha256:${m[1] as string}`));
      if (found.length === 1) return found[0];
    }
    return undefined;
  }

  /** Images, optionally only the one `filter` resolves to. */
  list(filter?: string): ImageRecord[] {
    if (filter) {
      const one = this.lookup(filter);
      return one ? [one] : [];
    }
    // Ordinal comparison (ISO times, hex ids): localeCompare would load ICU's collation data, ~2.5 MB of RSS.
    return this.o.store.list().sort((a, b) => ordinal(a.pulledAt, b.pulledAt) || ordinal(a.id, b.id));
  }

  /** Remove the image with all its tags and digests (idempotent), then collect unused blobs and snapshots. */
  async remove(ref: string): Promise<ImageRecord | undefined> {
    return this.exclusive(async () => {
      const img = this.lookup(ref);
      if (!img) return undefined;
      await this.o.store.delete(img.id);
      await this.gcLocked(true);
      this.o.log.info({ imageId: img.id, repoTags: img.repoTags }, 'image removed');
      return img;
    });
  }

  /** Snapshot fs directories of the image, bottom-most layer first (overlayfs lowerdir is the reverse). */
  async layerDirs(imageId: string): Promise<string[]> {
    const img = this.o.store.get(imageId) ?? this.lookup(imageId);
    const lease = img ? undefined : this.o.store.leaseList().find((l) => l.imageId === imageId);
    const chains = img?.chainIds ?? lease?.chainIds;
    if (!chains) throw new NotFoundError(`image "${imageId}" not found`);
    return chains.map((c) => {
      if (!this.o.snapshots.get(c)) throw new NotFoundError(`image "${imageId}": snapshot ${c} is missing`);
      return this.o.snapshots.fsPath(c);
    });
  }

  /** Keep the image's snapshots while `holder` (a container) uses them, even if the image is removed. */
  async lease(holder: string, imageId: string): Promise<Lease> {
    return this.exclusive(async () => {
      const img = this.o.store.get(imageId) ?? this.lookup(imageId);
      if (!img) throw new NotFoundError(`image "${imageId}" not found`);
      const l: Lease = { holder, imageId: img.id, chainIds: img.chainIds };
      await this.o.store.putLease(l);
      return l;
    });
  }

  async release(holder: string): Promise<void> {
    await this.exclusive(async () => {
      const lease = this.o.store.getLease(holder);
      if (!lease) return;
      await this.o.store.deleteLease(holder);
      // Something to collect only when the lease held the last reference to a snapshot (its image
      // was removed meanwhile): a RemoveContainer of a container whose image is still there does
      // not walk the content store.
      if (!lease.chainIds.every((c) => this.chainReferenced(c))) await this.gcLocked(true);
    });
  }

  private chainReferenced(chainId: string): boolean {
    return (
      this.o.store.list().some((i) => i.chainIds.includes(chainId)) ||
      this.o.store.leaseList().some((l) => l.chainIds.includes(chainId)) ||
      [...this.pinnedByPulls].some((g) => g.chainIds.has(chainId))
    );
  }

  leases(): Lease[] {
    return this.o.store.leaseList();
  }

  /** Delete blobs and snapshots no image, lease or running pull refers to. */
  gc(dropPartials = false): Promise<{ blobs: number; snapshots: number }> {
    return this.exclusive(() => this.gcLocked(dropPartials));
  }

  private async gcLocked(dropPartials: boolean): Promise<{ blobs: number; snapshots: number }> {
    const digests = new Set<string>();
    const chains = new Set<string>();
    for (const i of this.o.store.list()) {
      for (const d of [i.id, i.manifestDigest, i.indexDigest, ...i.layers.map((l) => l.digest)]) if (d) digests.add(d);
      for (const c of i.chainIds) chains.add(c);
    }
    for (const l of this.o.store.leaseList()) for (const c of l.chainIds) chains.add(c);
    for (const g of this.pinnedByPulls) {
      for (const d of g.digests) digests.add(d);
      for (const c of g.chainIds) chains.add(c);
    }
    let blobs = 0;
    let snapshots = 0;
    for (const d of await this.o.content.list()) {
      if (!digests.has(d)) {
        await this.o.content.delete(d);
        blobs++;
      }
    }
    if (dropPartials) {
      for (const d of await this.o.content.ingests()) if (!digests.has(d)) await this.o.content.delete(d);
    }
    for (const s of this.o.snapshots.list()) {
      if (!chains.has(s.chainId)) {
        await this.o.snapshots.remove(s.chainId);
        snapshots++;
      }
    }
    if (blobs + snapshots > 0) this.o.log.info({ blobs, snapshots }, 'image garbage collected');
    return { blobs, snapshots };
  }

  /** Bytes and inodes of the image store: blobs, partial downloads and unpacked snapshots. */
  async fsUsage(): Promise<FsUsage> {
    const content = await this.o.content.usage();
    let usedBytes = content.bytes;
    let inodesUsed = content.inodes;
    for (const s of this.o.snapshots.list()) {
      usedBytes += s.usedBytes;
      inodesUsed += s.inodes;
    }
    return { mountpoint: this.o.root, usedBytes, inodesUsed, timestampMs: Date.now() };
  }
}

/** Size of the buffers a layer is read back into as it downloads. */
const READ_BUFFER_BYTES = 256 * 1024;

/** Unpack a blob while its download writes it, reading it back into a few reused buffers. */
function unpackFollowing(blob: GrowingBlob, size: number, dir: string, o: { maxRatio: number; signal: AbortSignal; onRead: (n: number) => void }): Promise<UnpackResult> {
  const pool = new BufferPool(READ_BUFFER_BYTES);
  return unpackStream(followBlob(blob, { signal: o.signal, pool, onRead: o.onRead }), size, dir, { maxRatio: o.maxRatio, pool });
}

/** After all have settled, throw the first failure (in layer order). */
async function settleAll(jobs: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** Config `User` -> uid (numeric user part) or username, as the CRI Image message wants. */
export function userOf(user: string | undefined): { uid?: number; username?: string } {
  if (!user) return {};
  const u = user.split(':')[0] as string;
  if (/^\d+$/.test(u)) return { uid: Number(u) };
  return u === '' ? {} : { username: u };
}

function ordinal(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
