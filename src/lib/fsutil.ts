// Filesystem helpers shared by every store: nothing half-written is ever read back as valid.
import { randomBytes } from 'node:crypto';
import { constants, statSync } from 'node:fs';
import { access, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { isErrno } from './errors.js';

export interface WriteOptions {
  /**
   * fsync the file and its directory (default). Off for state that dies with the boot (bundles,
   * exec process files, under /run): the rename alone is atomic against a crash of the daemon.
   */
  sync?: boolean;
}

/** Write temp file, fsync it, rename over the target, fsync the directory (no fsync with `sync: false`). */
export async function atomicWrite(path: string, data: string | Uint8Array, mode = 0o644, opts: WriteOptions = {}): Promise<void> {
  const sync = opts.sync ?? true;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    if (sync) await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (sync) await syncDir(dir);
}

export async function atomicWriteJson(path: string, value: unknown, mode = 0o644, opts: WriteOptions = {}): Promise<void> {
  await atomicWrite(path, JSON.stringify(value, null, 2) + '\n', mode, opts);
}

/** JSON for runc and the like, that dies with the boot: compact, replaced atomically, not synced. */
export async function writeVolatileJson(path: string, value: unknown, mode = 0o644): Promise<void> {
  await atomicWrite(path, JSON.stringify(value), mode, { sync: false });
}

/** Read and parse a JSON file; undefined when it does not exist. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Resolve a binary: an absolute path is checked as is, a bare name is looked up in `dirs`
 * (default: $PATH). Returns the executable's path, or undefined.
 */
export async function findExecutable(name: string, dirs?: readonly string[]): Promise<string | undefined> {
  const candidates = name.includes('/')
    ? [name]
    : (dirs ?? (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')).filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    // Most candidates do not exist (the other $PATH dirs): a stat that returns nothing is one cheap
    // syscall, where access() of a missing file costs a rejected promise with a captured stack.
    // CRI Status resolves the runtime and every CNI plugin on each call, and the kubelet polls it.
    let st;
    try {
      st = statSync(c, { throwIfNoEntry: false });
    } catch {
      continue; // e.g. a path component that is not a directory
    }
    if (!st?.isFile()) continue;
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // not executable by us; try the next directory
    }
  }
  return undefined;
}
