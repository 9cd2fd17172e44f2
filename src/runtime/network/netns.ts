// Pinned network namespaces: `<dir>/<pod id>` is a bind mount of a new netns, so the namespace
// outlives the infra process (CNI DEL after a crash needs it) and has a path to hand to runc and
// the CNI plugins. Node cannot unshare(2) itself, so util-linux `unshare --net=<file> true` does
// the work: it creates the namespace in a short-lived child and bind-mounts /proc/<pid>/ns/net onto
// the file; the native helper (native/nexcage-netns.c) does the same in one process and brings
// `lo` up too, which spares the CNI loopback plugin. Chosen over `ip netns add` because that only knows /run/netns (shared by everything
// on the node, one flat name space) while this keeps every pin under the daemon's state dir.
// The kernel refuses nsfs bind mounts into a shared mount (propagation would pin the namespace in
// every peer), so `<dir>` is first bind-mounted onto itself and made private, as ip-netns does.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AlreadyExistsError, CommandError, InternalError, errorMessage, isErrno } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { nativeHelperIfBuilt } from '../../lib/native-helpers.js';

/** What the sandbox manager uses of the pins (a seam tests fake). */
export type NetnsPinning = Pick<NetnsPins, 'init' | 'pathFor' | 'create' | 'remove' | 'list' | 'releaseIfEmpty'> & Partial<Pick<NetnsPins, 'bringsUpLoopback'>>;

function pinExists(podId: string): AlreadyExistsError {
  return new AlreadyExistsError(`network namespace pin for pod "${podId}" already exists`);
}

export class NetnsPins {
  /** Serialises mounting/unmounting the private dir against pin creation. */
  private dirLock: Promise<unknown> = Promise.resolve();
  /** Whether the private dir mount is there, as last made or seen under the lock (undefined: look). */
  private dirMounted: boolean | undefined;
  private readonly helper: string | undefined;

  /** `helper`: the native helper (default: found beside the build; null = util-linux unshare). */
  constructor(
    readonly dir: string,
    helper?: string | null,
  ) {
    this.helper = helper === null ? undefined : (helper ?? nativeHelperIfBuilt('nexcage-netns'));
  }

  /** Whether a new namespace (not one pinned `from` elsewhere) comes with `lo` up. */
  get bringsUpLoopback(): boolean {
    return this.helper !== undefined;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
  }

  pathFor(podId: string): string {
    return join(this.dir, podId);
  }

  /** A new namespace, or with `from` (e.g. /proc/<pid>/ns/net of a pod's infra) that one pinned. */
  async create(podId: string, from?: string): Promise<string> {
    const path = this.pathFor(podId);
    const helper = from ? undefined : this.helper;
    let failure: { err: unknown } | undefined;
    // The private dir mount exists only while pins do, so an idle or crashed daemon holds no mount.
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
    if (await this.isMountPoint(path)) {
      await run('umount', [path], { allowFailure: true });
      if (await this.isMountPoint(path)) await run('umount', ['--lazy', path]);
    }
    await rm(path, { force: true });
    await this.releaseIfEmpty();
  }

  /** Pod ids that have a pin file (recovery compares them with the records). */
  async list(): Promise<string[]> {
    return (await readdir(this.dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  }

  async exists(path: string): Promise<boolean> {
    return this.isMountPoint(path);
  }

  /** Unmount the private dir itself once no pin is left. */
  async releaseIfEmpty(): Promise<boolean> {
    return this.withDirLock(async () => {
      if ((await this.list()).length > 0) return false;
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
