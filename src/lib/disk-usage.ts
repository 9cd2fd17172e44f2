// Bytes and inodes under a directory tree (a container's writable layer, the snapshot store),
// measured by a bounded background walk and cached: the kubelet's stats and ImageFsInfo calls read
// the cache and never wait for a walk. Shared by src/runtime (writable layers) and src/images.
import type { Dir } from 'node:fs';
import { lstat, opendir, readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from './errors.js';
import type { Logger } from './log.js';

export interface DirUsage {
  /** Disk bytes (st_blocks * 512, like du), hard links counted once. */
  bytes: number;
  /** Distinct inodes, the root directory included. */
  inodes: number;
  /** When the walk finished (ns since the epoch). */
  timestampNs: number;
  /** The walk hit its entry bound and stopped: figures are a lower bound. */
  truncated: boolean;
}

export interface WalkOptions {
  /** Stop after this many entries (a runaway tree must not pin the disk for minutes). */
  maxEntries?: number;
  signal?: AbortSignal;
  /** Directories larger than this (st_size) are streamed rather than read whole. */
  readWholeMaxBytes?: number;
}

const DEFAULT_MAX_ENTRIES = 1_000_000;
/**
 * Directories up to this st_size (some 25k ext4 entries) are read whole with readdir; larger ones
 * are streamed through opendir. A Dir handle carries closures of its own that V8 promotes to the
 * old generation, and the walks run every few seconds over every container's writable layer.
 */
const DEFAULT_READ_WHOLE_MAX_BYTES = 1024 * 1024;

async function* streamedNames(handle: Dir): AsyncGenerator<string> {
  for await (const ent of handle) yield ent.name; // leaving early closes the handle
}

/** One walk of `root`: stays on root's filesystem (like du -x), tolerates entries vanishing mid-walk. */
export async function walkUsage(root: string, options: WalkOptions = {}): Promise<DirUsage> {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const readWholeMax = options.readWholeMaxBytes ?? DEFAULT_READ_WHOLE_MAX_BYTES;
  const top = await lstat(root, { bigint: false });
  const seen = new Set<number>();
  let bytes = 0;
  let inodes = 0;
  let entries = 0;
  let truncated = false;
  const count = (st: { ino: number; blocks: number; nlink: number }): void => {
    if (st.nlink > 1) {
      if (seen.has(st.ino)) return;
      seen.add(st.ino);
    }
    bytes += st.blocks * 512;
    inodes++;
  };
  count(top);
  const stack: { dir: string; size: number }[] = [{ dir: root, size: top.size }];
  outer: while (stack.length > 0) {
    const { dir, size } = stack.pop() as { dir: string; size: number };
    let names: Iterable<string> | AsyncIterable<string>;
    try {
      names = size <= readWholeMax ? await readdir(dir) : streamedNames(await opendir(dir, { bufferSize: 256 }));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
      throw err;
    }
    for await (const name of names) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (++entries > maxEntries) {
        truncated = true;
        break outer;
      }
      const path = join(dir, name);
      let st;
      try {
        st = await lstat(path);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      if (st.dev !== top.dev) continue;
      count(st);
      if (st.isDirectory()) stack.push({ dir: path, size: st.size });
    }
  }
  return { bytes, inodes, timestampNs: Date.now() * 1e6, truncated };
}

export interface DiskUsageCacheOptions {
  /** How old a figure may get before it is walked again. */
  refreshMs: number;
  maxEntries?: number;
  log?: Logger;
}

interface Watched {
  dir: string;
  usage?: DirUsage;
  /** Last walk attempt (ms), successful or not. */
  walkedAt: number;
}

/**
 * Directories to keep measured. One walk at a time (walks are disk-heavy), oldest figure first; a
 * new directory is walked at the next turn. `get` only reads the cache.
 */
export class DiskUsageCache {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private walking: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: DiskUsageCacheOptions) {}

  /** Keep `dir` measured under `key` (e.g. a container id). Re-watching with another dir restarts. */
  watch(key: string, dir: string): void {
    const w = this.watched.get(key);
    if (w && w.dir === dir) return;
    this.watched.set(key, { dir, walkedAt: 0 });
    this.kick();
  }

  unwatch(key: string): void {
    this.watched.delete(key);
  }

  keys(): string[] {
    return [...this.watched.keys()];
  }

  /** The latest figure, or undefined before the first walk finished. */
  get(key: string): DirUsage | undefined {
    return this.watched.get(key)?.usage;
  }

  /** Walk `key` now (tests, benchmarks); resolves with the fresh figure. */
  async refresh(key: string): Promise<DirUsage | undefined> {
    await this.walking;
    const w = this.watched.get(key);
    if (!w) return undefined;
    await this.walkOne(key, w);
    return w.usage;
  }

  start(): void {
    if (this.timer) return;
    const tick = Math.max(100, Math.min(this.options.refreshMs, 1000));
    this.timer = setInterval(() => this.kick(), tick);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.abort.abort(new Error('disk usage cache stopped'));
    await this.walking?.catch(() => undefined);
  }

  /** Start a sweep of stale entries unless one is running. */
  private kick(): void {
    if (this.walking || this.abort.signal.aborted) return;
    this.walking = this.sweep().finally(() => {
      this.walking = undefined;
    });
  }

  private async sweep(): Promise<void> {
    for (;;) {
      const now = Date.now();
      let next: [string, Watched] | undefined;
      for (const e of this.watched) {
        if (now - e[1].walkedAt < this.options.refreshMs) continue;
        if (!next || e[1].walkedAt < next[1].walkedAt) next = e;
      }
      if (!next || this.abort.signal.aborted) return;
      await this.walkOne(next[0], next[1]);
    }
  }

  private async walkOne(key: string, w: Watched): Promise<void> {
    w.walkedAt = Date.now();
    try {
      const usage = await walkUsage(w.dir, { maxEntries: this.options.maxEntries, signal: this.abort.signal });
      if (this.watched.get(key) === w) w.usage = usage;
      if (usage.truncated) this.options.log?.warn({ key, dir: w.dir, entries: this.options.maxEntries }, 'disk usage walk stopped at its entry bound');
    } catch (err) {
      if (this.abort.signal.aborted) return;
      if (isErrno(err, 'ENOENT')) return; // removed meanwhile; the owner unwatches it
      this.options.log?.warn({ key, dir: w.dir, err }, 'disk usage walk failed');
    }
  }
}

/** The mount point holding `path` (longest mount-point prefix in mountinfo, after resolving links). */
export async function mountpointOf(path: string, mountinfo?: string): Promise<string> {
  const real = await realpath(path);
  const text = mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'));
  let best = '/';
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (!mp) continue;
    if ((real === mp || real.startsWith(mp === '/' ? '/' : mp + '/')) && mp.length > best.length) best = mp;
  }
  return best;
}
