// Pinned network namespaces: `<dir>/<pod id>` is a bind mount of a new netns, so the namespace
// outlives the infra process (CNI DEL after a crash needs it) and has a path to hand to runc and
// the CNI plugins. Node cannot unshare(2) itself, so util-linux `unshare --net=<file> true` does
// the work: it creates the namespace in a short-lived child and bind-mounts /proc/<pid>/ns/net onto
// the file; the native helper (native/nexcage-netns.c) does the same in one process and brings
// `lo` up too, which spares the CNI loopback plugin. Chosen over `ip netns add` because that only knows /run/netns (shared by everything
// on the node, one flat name space) while this keeps every pin under the daemon's state dir.
// The kernel refuses nsfs bind mounts into a shared mount (propagation would pin the namespace in
// every peer), so `<dir>` is first bind-mounted onto itself and made private, as ip-netns does.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InternalError, errorMessage } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';

/** What the sandbox manager uses of the pins (a seam tests fake). */
export type NetnsPinning = Pick<NetnsPins, 'init' | 'pathFor' | 'create' | 'remove' | 'list' | 'releaseIfEmpty'> & Partial<Pick<NetnsPins, 'bringsUpLoopback'>>;

/** The helper binary: dist/native beside the build, found from dist/src/... or from src/ (tests); undefined when not built. */
export function findNetnsHelper(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [resolve(here, '../../../native/nexcage-netns'), resolve(here, '../../../dist/native/nexcage-netns')].find((c) => existsSync(c));
}

export class NetnsPins {
  /** Serialises mounting/unmounting the private dir against pin creation. */
  private dirLock: Promise<unknown> = Promise.resolve();
  private readonly helper: string | undefined;

  /** `helper`: the native helper (default: found beside the build; null = util-linux unshare). */
  constructor(
    readonly dir: string,
    helper?: string | null,
  ) {
    this.helper = helper === null ? undefined : (helper ?? findNetnsHelper());
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
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
      const privateDir = !(await this.isMountPoint(this.dir));
      if (privateDir && !helper) {
        await run('mount', ['--bind', this.dir, this.dir]);
        await run('mount', ['--make-private', this.dir]);
      }
      await writeFile(path, '', { flag: 'wx', mode: 0o444 });
      // The helper makes the dir mount too (one process for both), so it runs under the lock.
      if (helper) await run(helper, [...(privateDir ? ['--private-dir', this.dir] : []), path], { timeoutMs: 30_000 }).catch((err: unknown) => (failure = { err }));
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
      if (await this.isMountPoint(this.dir)) await run('umount', [this.dir], { allowFailure: true });
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
