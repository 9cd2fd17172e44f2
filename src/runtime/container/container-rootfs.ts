// A container's root filesystem: an overlay mount of its image's layer snapshots (read-only
// lower dirs, top-most first as overlayfs wants) with a private upper/work dir per container.
// The kernel takes at most one page of mount options, so the lower dirs are given as paths
// relative to the container's record dir (mount runs there), and when even that is too long, as
// short numbered symlinks (l/0, l/1, ...) created in that dir: path lookup follows them.
import { chown, mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { isMounted, mountOverlay, unmount } from '../../lib/mounts.js';

/** Kernel limit for mount data is one page; stay clear of it. */
const MAX_OPTIONS = 3800;
/** overlayfs refuses more than this many lower layers. */
const MAX_LAYERS = 500;

export interface RootfsPlan {
  /** Where mount(8) runs (relative lower dirs resolve against it). */
  cwd: string;
  options: string;
  /** Symlinks to create first (name relative to cwd -> absolute target). */
  links: { name: string; target: string }[];
}

/**
 * The overlay options for `layers` (bottom-most first) with upper/work under `recordDir`; without
 * upper/work the overlay is read-only (image volumes). Pure.
 */
export function planOverlay(layers: readonly string[], recordDir: string, upperDir?: string, workDir?: string): RootfsPlan {
  if (layers.length === 0) throw new InvalidArgumentError('image has no layers');
  if (layers.length > MAX_LAYERS) throw new InvalidArgumentError(`image has ${layers.length} layers; overlayfs supports at most ${MAX_LAYERS}`);
  const top = [...layers].reverse();
  const tail = upperDir && workDir ? `,upperdir=${relative(recordDir, upperDir)},workdir=${relative(recordDir, workDir)}` : '';
  const direct = `lowerdir=${top.map((d) => relative(recordDir, d)).join(':')}${tail}`;
  if (direct.length <= MAX_OPTIONS) return { cwd: recordDir, options: direct, links: [] };
  const links = top.map((target, i) => ({ name: `l/${i}`, target }));
  return { cwd: recordDir, options: `lowerdir=${links.map((l) => l.name).join(':')}${tail}`, links };
}

/** Mount the overlay at `target` (created if missing); `owner` owns the upper and work dirs (the upper dir is the rootfs root). */
export async function mountRootfs(layers: readonly string[], recordDir: string, target: string, owner?: { uid: number; gid: number }): Promise<{ upperDir: string; workDir: string }> {
  const upperDir = join(recordDir, 'upper');
  const workDir = join(recordDir, 'work');
  await mkdir(upperDir, { recursive: true, mode: 0o755 });
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  if (owner) {
    await chown(upperDir, owner.uid, owner.gid);
    await chown(workDir, owner.uid, owner.gid);
  }
  await mkdir(target, { recursive: true, mode: 0o755 });
  const plan = planOverlay(layers, recordDir, upperDir, workDir);
  if (plan.links.length > 0) {
    await rm(join(recordDir, 'l'), { recursive: true, force: true });
    await mkdir(join(recordDir, 'l'), { mode: 0o700 });
    for (const l of plan.links) await symlink(l.target, join(recordDir, l.name));
  }
  await mountOverlay(plan.cwd, plan.options, target);
  return { upperDir, workDir };
}

/**
 * Mount an image read-only at `target` (CRI image volumes): its single layer bound read-only, or
 * a lower-only overlay of its layers (overlayfs needs two lower dirs when there is no upper).
 */
export async function mountImageReadOnly(layers: readonly string[], workDir: string, target: string): Promise<void> {
  await mkdir(target, { recursive: true, mode: 0o755 });
  if (layers.length === 1) {
    await run('mount', ['--bind', layers[0] as string, target]);
    const res = await run('mount', ['-o', 'remount,bind,ro', target], { allowFailure: true });
    if (res.exitCode !== 0) {
      await run('umount', [target], { allowFailure: true });
      throw new InvalidArgumentError(`image volume at ${target}: read-only remount failed: ${res.stderr.trim()}`);
    }
    return;
  }
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const plan = planOverlay(layers, workDir);
  if (plan.links.length > 0) {
    await rm(join(workDir, 'l'), { recursive: true, force: true });
    await mkdir(join(workDir, 'l'), { mode: 0o700 });
    for (const l of plan.links) await symlink(l.target, join(workDir, l.name));
  }
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,${plan.options}`, target], { cwd: plan.cwd });
}

/** Unmount every mount at or below `dir`, deepest first (lazily when busy). */
export async function unmountAll(dir: string): Promise<void> {
  const prefix = dir.replace(/\/+$/, '');
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((p): p is string => p !== undefined && (p === prefix || p.startsWith(prefix + '/')))
    .sort((a, b) => b.length - a.length);
  for (const p of new Set(points)) await unmount(p);
}

export { isMounted, unmount as unmountRootfs };
