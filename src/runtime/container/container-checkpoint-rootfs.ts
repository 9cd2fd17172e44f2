// The writable layer of a checkpoint, in the layout CRI-O and checkpointctl use: rootfs-diff.tar
// holds what the container added or changed (read from the overlay upper dir: whole copied-up
// files), deleted.files (a JSON list of container paths) what it removed from the image: overlay
// whiteouts, and the image's entries hidden under an opaque directory. Paths at or below a mount
// destination are left out: what is written there lives on the mount, not in the layer.
// A restore unpacks the tar into the new container's empty upper dir before its overlay is mounted
// (GNU tar skips members with "..", and makes a symlink that could point outside only once every
// member is written, so nothing lands outside through one), then
// removes the deleted paths through the mounted rootfs.
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { resolveInRoot } from '../oci-spec/rootfs-files.js';
import { tarReason } from './container-checkpoint-archive.js';

export const ROOTFS_DIFF_TAR = 'rootfs-diff.tar';
export const DELETED_FILES = 'deleted.files';

/** Flags both sides use: numeric ids (the image's), file capabilities kept, nothing else of xattrs. */
const TAR_FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=security.capability'];

export interface RootfsDiffResult {
  /** Entries in rootfs-diff.tar. */
  entries: number;
  deleted: string[];
}

interface UpperScan {
  /** Paths relative to the upper dir, parents before children. */
  changed: string[];
  deleted: string[];
  opaque: string[];
}

/** Write rootfs-diff.tar and deleted.files into `outDir` from the upper dir (the container paused). */
export async function writeRootfsDiff(upperDir: string, lowerDirs: readonly string[], mountDestinations: readonly string[], outDir: string, timeoutMs: number): Promise<RootfsDiffResult> {
  const skip = new Set(mountDestinations.map((d) => d.replace(/^\/+|\/+$/g, '')).filter((d) => d !== ''));
  const scan = await scanUpper(upperDir, skip);
  for (const dir of await opaqueDirs(upperDir, scan.opaque)) {
    const inUpper = new Set(await readdir(join(upperDir, dir)).catch(() => [] as string[]));
    const hidden = new Set<string>();
    for (const lower of lowerDirs) {
      for (const name of await readdir(join(lower, dir)).catch(() => [] as string[])) if (!inUpper.has(name)) hidden.add(name);
    }
    for (const name of [...hidden].sort()) scan.deleted.push(`/${dir}/${name}`);
  }
  const list = scan.changed.map((p) => `${p}\0`).join('');
  await run('tar', ['--create', '--file', join(outDir, ROOTFS_DIFF_TAR), '--directory', upperDir, '--no-recursion', ...TAR_FLAGS, '--null', '--verbatim-files-from', '--files-from=-'], { input: list, timeoutMs });
  await writeFile(join(outDir, DELETED_FILES), JSON.stringify(scan.deleted, null, 2), { mode: 0o600 });
  return { entries: scan.changed.length, deleted: scan.deleted };
}

async function scanUpper(upperDir: string, skip: ReadonlySet<string>): Promise<UpperScan> {
  const out: UpperScan = { changed: [], deleted: [], opaque: [] };
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(rel === '' ? upperDir : join(upperDir, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (skip.has(path)) continue;
      if (e.isCharacterDevice() && (await lstat(join(upperDir, path))).rdev === 0) {
        out.deleted.push(`/${path}`); // an overlay whiteout
        continue;
      }
      out.changed.push(path);
      if (e.isDirectory()) {
        out.opaque.push(path);
        await walk(path);
      }
    }
  };
  await walk('');
  return out;
}

/** Which of `dirs` carry overlayfs' opaque mark (trusted.overlay.opaque="y"): one getfattr over the tree. */
async function opaqueDirs(upperDir: string, dirs: readonly string[]): Promise<string[]> {
  if (dirs.length === 0) return [];
  const res = await run('getfattr', ['--absolute-names', '--recursive', '--physical', '--dump', '--encoding=text', '--match=^trusted\\.overlay\\.opaque$', upperDir], {
    allowFailure: true,
    timeoutMs: 60_000,
  }).catch(() => undefined);
  if (!res) return [];
  const marked = new Set<string>();
  let file: string | undefined;
  for (const line of res.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = unescapeGetfattr(line.slice('# file: '.length));
    else if (file !== undefined && line === 'trusted.overlay.opaque="y"' && file.startsWith(`${upperDir}/`)) marked.add(file.slice(upperDir.length + 1));
  }
  return dirs.filter((d) => marked.has(d));
}

/** getfattr writes unusual bytes of names as \ooo octal escapes. */
function unescapeGetfattr(s: string): string {
  return Buffer.from(s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1').toString('utf8');
}

/** Unpack a checkpoint's rootfs diff into the new container's upper dir, before its overlay is mounted. */
export async function unpackRootfsDiff(fromDir: string, upperDir: string, timeoutMs: number): Promise<void> {
  await mkdir(upperDir, { recursive: true, mode: 0o755 });
  const tar = join(fromDir, ROOTFS_DIFF_TAR);
  if (!(await lstat(tar).then(() => true, () => false))) return;
  const res = await run('tar', ['--extract', '--file', tar, '--directory', upperDir, '--same-permissions', '--same-owner', ...TAR_FLAGS], { timeoutMs, allowFailure: true });
  if (res.exitCode !== 0) throw new InvalidArgumentError(`checkpoint archive: ${ROOTFS_DIFF_TAR} could not be unpacked: ${tarReason(res.stderr)}`);
}

/**
 * Remove what the checkpointed container had deleted, through the mounted rootfs (overlayfs
 * writes the whiteouts and copies parents up with their attributes). Parents resolve inside the
 * rootfs; the last component is removed itself, never followed.
 */
export async function removeDeletedFiles(fromDir: string, rootfs: string): Promise<number> {
  const list = await readDeleted(fromDir);
  for (const path of list) {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0 || parts.includes('..')) throw new InvalidArgumentError(`checkpoint archive: deleted path "${path}" is not a clean absolute path`);
    const parent = await resolveInRoot(rootfs, parts.slice(0, -1).join('/'));
    await rm(join(parent, parts.at(-1) as string), { recursive: true, force: true });
  }
  return list.length;
}

async function readDeleted(fromDir: string): Promise<string[]> {
  const text = await readFile(join(fromDir, DELETED_FILES), 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`checkpoint archive: ${DELETED_FILES} is not JSON`);
  }
  if (!Array.isArray(list) || !list.every((p): p is string => typeof p === 'string')) throw new InvalidArgumentError(`checkpoint archive: ${DELETED_FILES} is not a list of paths`);
  return list;
}
