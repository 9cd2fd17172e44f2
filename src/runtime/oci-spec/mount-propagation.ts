// Host-side check behind CRI mount propagation: rslave needs the source's host mount to be
// shared or slave, rshared needs it shared, otherwise mounts made later on the host (or in the
// container) never propagate. containerd refuses such a mount; we do the same unless the caller
// asks to make the host mount shared (`mount --make-shared <mount point>`).
import { readFile, realpath } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError, isErrno } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import type { HostMountRequirement } from './mounts.js';

export interface MountInfoEntry {
  id: number;
  parentId: number;
  root: string;
  mountPoint: string;
  /** Optional fields: "shared:N", "master:N", "propagate_from:N", "unbindable". */
  optional: string[];
  fsType: string;
  source: string;
}

/** Parses /proc/<pid>/mountinfo (octal escapes such as \040 decoded). */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f.length < dash + 3) continue;
    out.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      optional: f.slice(6, dash),
      fsType: f[dash + 1]!,
      source: unescape(f[dash + 2]!),
    });
  }
  return out;
}

/** The mount a (resolved, absolute) path lives on: longest mount point prefix, the top-most if stacked. */
export function mountOf(path: string, mounts: readonly MountInfoEntry[]): MountInfoEntry | undefined {
  let best: MountInfoEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = mp === '/' || path === mp || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export function isShared(m: MountInfoEntry): boolean {
  return m.optional.some((o) => o.startsWith('shared:'));
}
export function isSlave(m: MountInfoEntry): boolean {
  return m.optional.some((o) => o.startsWith('master:'));
}

/** A problem with one requirement, or undefined when the host mount already fits. */
export function propagationProblem(hostPath: string, need: 'shared' | 'sharedOrSlave', m: MountInfoEntry | undefined): string | undefined {
  if (!m) return `mount "${hostPath}": no host mount found for the path`;
  if (need === 'shared' && !isShared(m)) {
    return `mount "${hostPath}": bidirectional propagation needs a shared host mount, but "${m.mountPoint}" is not shared`;
  }
  if (need === 'sharedOrSlave' && !isShared(m) && !isSlave(m)) {
    return `mount "${hostPath}": host-to-container propagation needs a shared or slave host mount, but "${m.mountPoint}" is private`;
  }
  return undefined;
}

export interface EnsurePropagationOptions {
  /** Make the host mount shared instead of failing (changes the host; off by default). */
  makeShared?: boolean;
  /** mountinfo to read; default /proc/self/mountinfo. */
  mountInfoPath?: string;
}

/** Checks (or fixes) the host propagation the mounts need; FailedPrecondition naming the path otherwise. */
export async function ensureHostPropagation(reqs: readonly HostMountRequirement[], opts: EnsurePropagationOptions = {}): Promise<void> {
  const needed = reqs.filter((r) => r.propagation !== undefined);
  if (needed.length === 0) return;
  let mounts = parseMountInfo(await readFile(opts.mountInfoPath ?? '/proc/self/mountinfo', 'utf8'));
  for (const r of needed) {
    let path: string;
    try {
      path = await realpath(r.hostPath);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new InvalidArgumentError(`mount "${r.hostPath}": host path does not exist`, { cause: err });
      throw err;
    }
    const m = mountOf(path, mounts);
    const problem = propagationProblem(r.hostPath, r.propagation!, m);
    if (!problem) continue;
    if (!opts.makeShared || !m) throw new FailedPreconditionError(problem);
    await run('mount', ['--make-shared', m.mountPoint]);
    mounts = parseMountInfo(await readFile(opts.mountInfoPath ?? '/proc/self/mountinfo', 'utf8'));
  }
}
