// Pinned network namespaces: `<dir>/<pod id>` is a bind mount of a new netns, so the namespace
// outlives the infra process (CNI DEL after a crash needs it) and has a path to hand to runc and
// the CNI plugins. Node cannot unshare(2) itself, so util-linux `unshare --net=<file> true` does
// the work: it creates the namespace in a short-lived child and bind-mounts /proc/<pid>/ns/net onto
// the file; the native helper (native/nexcage-netns.c) does the same in one process and brings
// `lo` up too, which spares the CNI loopback plugin. Chosen over `ip netns add` because that only knows /run/netns (shared by everything
// on the node, one flat name space) while this keeps every pin under the daemon's state dir.
// The kernel refuses nsfs bind mounts into a shared mount (propagation would pin the namespace in
// every peer), so `<dir>` is first bind-mounted onto itself and made private, as ip-netns does.
// Spares: with the helper, once a pod has been pinned one namespace is kept ready as
// `<dir>/.spare-<random>` (lo up, nothing else in it), and the next pod gets it as a symlink
// `<dir>/<pod id>` -> `.spare-...`: its CNI ADD and infra start without waiting for a process.
// A mount point cannot be renamed, hence the link; everything keyed by pod id sees the link, and
// whatever opens the path (runc, the CNI plugins, nsenter) follows it to the nsfs mount. A spare no
// link points at is never a pod's: init() sweeps those a crash left, close() removes the pool.
import { mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { AlreadyExistsError, CommandError, InternalError, errorMessage, isErrno } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { nativeHelperIfBuilt } from '../../lib/native-helpers.js';

/** What the sandbox manager uses of the pins (a seam tests fake). */
export type NetnsPinning = Pick<NetnsPins, 'init' | 'pathFor' | 'create' | 'remove' | 'list' | 'releaseIfEmpty' | 'close'> & Partial<Pick<NetnsPins, 'bringsUpLoopback'>>;

const SPARE_PREFIX = '.spare-';
const REFILL_DELAY_MS = 100;

function pinExists(podId: string): AlreadyExistsError {
  return new AlreadyExistsError(`network namespace pin for pod "${podId}" already exists`);
}

export class NetnsPins {
  /** Serialises mounting/unmounting the private dir against pin creation. */
  private dirLock: Promise<unknown> = Promise.resolve();
  /** Whether the private dir mount is there, as last made or seen under the lock (undefined: look). */
  private dirMounted: boolean | undefined;
  private readonly helper: string | undefined;
  /** Spare pins ready to be handed to a pod (paths). */
  private readonly ready: string[] = [];
  /** A spare being made, or undefined. */
  private filling: Promise<void> | undefined;
  private refillTimer: NodeJS.Timeout | undefined;
  /** Spares being linked to a pod right now (the dir mount must stay). */
  private handing = 0;
  private closed = false;

  /**
   * `helper`: the native helper (default: found beside the build; null = util-linux unshare).
   * `spares`: how many namespaces to keep ready once a pod was pinned (only with the helper).
   */
  constructor(
    readonly dir: string,
    helper?: string | null,
    private readonly spares = 1,
  ) {
    this.helper = helper === null ? undefined : (helper ?? nativeHelperIfBuilt('nexcage-netns'));
  }

  /** Spares ready to be handed out now. */
  get readySpares(): number {
    return this.ready.length;
  }

  /** Whether a new namespace (not one pinned `from` elsewhere) comes with `lo` up. */
  get bringsUpLoopback(): boolean {
    return this.helper !== undefined;
  }

  /** Make the dir; spares a crashed daemon left (no pod link points at them) go. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const names = await readdir(this.dir);
    const linked = new Set<string>();
    for (const n of names) {
      if (n.startsWith('.')) continue;
      const target = await readlink(join(this.dir, n)).catch(() => undefined);
      if (target !== undefined) linked.add(target);
    }
    for (const n of names) if (n.startsWith(SPARE_PREFIX) && !linked.has(n)) await this.unpin(join(this.dir, n));
    await this.releaseIfEmpty();
  }

  pathFor(podId: string): string {
    return join(this.dir, podId);
  }

  /** A new namespace, or with `from` (e.g. /proc/<pid>/ns/net of a pod's infra) that one pinned. */
  async create(podId: string, from?: string): Promise<string> {
    const path = this.pathFor(podId);
    if (from || !this.helper) return this.pin(podId, path, from);
    const spare = this.ready.shift();
    try {
      return spare === undefined ? await this.pin(podId, path) : await this.handOut(podId, spare);
    } finally {
      this.refillSoon();
    }
  }

  /**
   * The next spare, made a little later: the pod that took one spawns its CNI plugins and its
   * infra now, and forking the daemon for the helper would hold them up.
   */
  private refillSoon(): void {
    if (this.closed || this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, REFILL_DELAY_MS);
    this.refillTimer.unref();
  }

  /** The pod's link to a ready spare; a spare that cannot be linked goes. */
  private async handOut(podId: string, spare: string): Promise<string> {
    const path = this.pathFor(podId);
    this.handing++;
    try {
      await symlink(basename(spare), path);
      return path;
    } catch (err) {
      await this.unpin(spare);
      if (isErrno(err, 'EEXIST')) throw pinExists(podId);
      throw new InternalError(`network namespace for pod "${podId}" could not be created: ${errorMessage(err)}`, { cause: err });
    } finally {
      this.handing--;
    }
  }

  /** Make spares in the background until `spares` are ready (one at a time). */
  private refill(): void {
    if (this.filling || this.closed || this.ready.length >= this.spares) return;
    const path = join(this.dir, `${SPARE_PREFIX}${randomBytes(6).toString('hex')}`);
    this.filling = this.pin('(spare)', path).then(
      async () => {
        if (this.closed) await this.unpin(path).catch(() => undefined);
        else this.ready.push(path);
        this.filling = undefined;
        this.refill();
      },
      () => {
        // No spare then: pods are pinned as they come, and the next one tries again.
        this.filling = undefined;
      },
    );
  }

  /** A new namespace pinned at `path`, or `from` pinned there. */
  private async pin(podId: string, path: string, from?: string): Promise<string> {
    const helper = from ? undefined : this.helper;
    let failure: { err: unknown } | undefined;
    // The private dir mount exists only while pins (or spares) do: a daemon that never ran a pod
    // holds none.
    await this.withDirLock(async () => {
      // init() made the dir; its state is looked at again only when not known.
      if (this.dirMounted === undefined) await mkdir(this.dir, { recursive: true, mode: 0o755 });
      const privateDir = !(this.dirMounted ?? (await this.isMountPoint(this.dir)));
      this.dirMounted = undefined;
      if (helper) {
        // The helper makes the dir mount and the pin file too (one process, no Node round trip
        // before it), so it runs under the lock; exit 3: the pin file exists (not ours to undo).
        await run(helper, [...(privateDir ? ['--private-dir', this.dir] : []), path], { timeoutMs: 30_000 }).catch((err: unknown) => {
          if (err instanceof CommandError && err.exitCode === 3) throw pinExists(podId);
          failure = { err };
        });
      } else {
        if (privateDir) {
          await run('mount', ['--bind', this.dir, this.dir]);
          await run('mount', ['--make-private', this.dir]);
        }
        await writeFile(path, '', { flag: 'wx', mode: 0o444 }).catch((err: unknown) => {
          throw isErrno(err, 'EEXIST') ? pinExists(podId) : err;
        });
      }
      if (!failure) this.dirMounted = true;
    });
    try {
      if (failure) throw failure.err;
      if (from) await run('mount', ['--bind', from, path]);
      else if (!helper) await run('unshare', [`--net=${path}`, 'true'], { timeoutMs: 30_000 });
    } catch (err) {
      await this.remove(path);
      throw new InternalError(`network namespace for pod "${podId}" could not be created: ${errorMessage(err)}`, { cause: err });
    }
    return path;
  }

  /** Unmount and delete a pin (absent pins are fine: remove is idempotent); the dir goes with the last. */
  async remove(path: string): Promise<void> {
    // A pod given a spare has a link: the spare it points at goes first, then the link.
    const spare = await linkTarget(path);
    if (spare !== undefined) await this.unpin(spare);
    await this.unpin(path);
    await this.releaseIfEmpty();
  }

  private async unpin(path: string): Promise<void> {
    if (await this.isMountPoint(path)) {
      await run('umount', [path], { allowFailure: true });
      if (await this.isMountPoint(path)) await run('umount', ['--lazy', path]);
    }
    await rm(path, { force: true });
  }

  /** Graceful shutdown: the spares go, then the dir mount if no pod holds a pin. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.refillTimer);
    this.refillTimer = undefined;
    await this.filling;
    for (const spare of this.ready.splice(0)) await this.unpin(spare);
    await this.releaseIfEmpty();
  }

  /** Pod ids that have a pin file (recovery compares them with the records). */
  async list(): Promise<string[]> {
    return (await readdir(this.dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  }

  async exists(path: string): Promise<boolean> {
    return this.isMountPoint((await linkTarget(path)) ?? path);
  }

  /** Unmount the private dir itself once no pin (a pod's or a spare) is left. */
  async releaseIfEmpty(): Promise<boolean> {
    return this.withDirLock(async () => {
      if (this.handing > 0) return false;
      // One look at the dir: a pod's pin (or link), or a spare, keeps it.
      const names = await readdir(this.dir).catch(() => [] as string[]);
      if (names.some((n) => !n.startsWith('.') || n.startsWith(SPARE_PREFIX))) return false;
      this.dirMounted = undefined;
      if (await this.isMountPoint(this.dir)) {
        const res = await run('umount', [this.dir], { allowFailure: true });
        if (res.exitCode === 0) this.dirMounted = false;
      } else this.dirMounted = false;
      return true;
    });
  }

  private withDirLock<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.dirLock.then(fn, fn);
    this.dirLock = next.catch(() => undefined);
    return next;
  }

  private async isMountPoint(path: string): Promise<boolean> {
    const text = await readFile('/proc/self/mountinfo', 'utf8');
    const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
    return text.split('\n').some((l) => l.split(' ')[4] === escaped);
  }
}

/** Where a pod's link points (a spare's path), or undefined for a pin that is not a link. */
async function linkTarget(path: string): Promise<string | undefined> {
  const target = await readlink(path).catch(() => undefined);
  return target === undefined ? undefined : resolve(dirname(path), target);
}
