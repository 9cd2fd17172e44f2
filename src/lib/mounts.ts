// Host mounts the runtime makes itself: container overlays and pod /dev/shm tmpfs. Through
// native/nexcage-mount when built (mount(2) directly: mount(8)'s libmount parses the whole mount
// table on every call, a few ms per pod with many mounts), else util-linux mount/umount.
import { readFile } from 'node:fs/promises';
import { run } from './exec.js';
import { nativeHelperIfBuilt } from './native-helpers.js';

let helperPath: string | null | undefined;
function helper(): string | undefined {
  if (helperPath === undefined) helperPath = nativeHelperIfBuilt('nexcage-mount') ?? null;
  return helperPath ?? undefined;
}

/** An overlay at `target`; relative paths in `options` resolve against `cwd` (keeps them under one page). */
export async function mountOverlay(cwd: string, options: string, target: string): Promise<void> {
  const h = helper();
  if (h) await run(h, ['overlay', cwd, target, options]);
  else await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], { cwd });
}

/** A nosuid,nodev,noexec tmpfs named "shm" at `target` (`options`: tmpfs's own, e.g. mode and size). */
export async function mountShmTmpfs(target: string, options: string): Promise<void> {
  const h = helper();
  if (h) await run(h, ['tmpfs', target, options]);
  else await run('mount', ['-t', 'tmpfs', '-o', `${options},nosuid,nodev,noexec`, 'shm', target]);
}

export async function isMounted(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => line.split(' ')[4] === target.replace(/ /g, '\\040'));
}

/** Unmount (lazily if busy); a path that is not mounted is fine. */
export async function unmount(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  const h = helper();
  // The helper falls back to a lazy unmount itself when the mount is busy.
  const res = await run(h ?? 'umount', h ? ['umount', target] : [target], { allowFailure: true });
  if (res.exitCode === 0 || !(await isMounted(target))) return;
  await run(h ?? 'umount', h ? ['umount', target] : ['-l', target]);
}
