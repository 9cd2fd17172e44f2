// Bind mounts into a user namespace carry their source mount's flags (read-only, nosuid, nodev,
// noexec, atime) locked: the pod's root cannot clear them. runc 1.1 remounts a bind with exactly
// the flags in its options (e.g. MS_RDONLY alone for "ro"), which would clear them and fails with
// EPERM. So each bind of a user-namespaced container names its source's locked flags too.
import { readFile, realpath } from 'node:fs/promises';
import type { Spec } from './types.js';

const LOCKABLE = ['ro', 'nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime'] as const;

interface MountEntry {
  mountPoint: string;
  options: string[];
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const f = l.split(' ');
      return { mountPoint: unescape(f[4] ?? ''), options: (f[5] ?? '').split(',') };
    });
}

/** The locked flags of the mount that holds `path` (the last, top-most, of the longest mount point). Pure. */
export function lockedFlags(mounts: readonly MountEntry[], path: string): string[] {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  if (!best) return [];
  const opts = best.options;
  const out: string[] = LOCKABLE.filter((f) => opts.includes(f));
  // Neither relatime (the remount default) nor noatime: strictatime, which a remount must repeat.
  if (!opts.includes('relatime') && !opts.includes('noatime')) out.push('strictatime');
  return out;
}

/** Add to every bind mount of `spec` the locked flags of its source's mount (read from /proc/self/mountinfo). */
export async function keepLockedFlags(spec: Spec, mountinfo?: string): Promise<void> {
  const mounts = parseMountinfo(mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8')));
  for (const m of spec.mounts ?? []) {
    const opts = m.options ?? [];
    if (!m.source || !(m.type === 'bind' || opts.includes('bind') || opts.includes('rbind'))) continue;
    const source = await realpath(m.source).catch(() => m.source as string);
    const add = lockedFlags(mounts, source).filter((f) => !opts.includes(f) && !(f === 'ro' && opts.includes('rro')));
    if (add.length === 0) continue;
    // A read-only source stays read-only whatever was asked: "rw" would clear a locked flag.
    m.options = [...opts.filter((o) => !(o === 'rw' && add.includes('ro'))), ...add];
  }
}
