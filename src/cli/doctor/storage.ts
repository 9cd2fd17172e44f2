// Free space and inodes where images and containers' writable layers live (rootDir): the
// kubelet evicts pods and collects images when they run low (imagefs.available < 15% by default).
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail, ok, warn, type Check, type CheckResult } from './check.js';

const GiB = 1024 ** 3;

export const storageCheck: Check = async (ctx) => {
  let path = ctx.config.rootDir;
  while (!existsSync(path) && dirname(path) !== path) path = dirname(path);
  const s = await ctx.host.statfs(path);
  const out: CheckResult[] = [];
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const pct = total > 0 ? (100 * s.bavail) / s.blocks : 0;
  const space = `${(free / GiB).toFixed(1)} GiB of ${(total / GiB).toFixed(1)} GiB free (${pct.toFixed(0)}%) under ${ctx.config.rootDir}${path !== ctx.config.rootDir ? ` (on ${path})` : ''}`;
  const fix = `free space on the filesystem of ${ctx.config.rootDir} (crictl rmi --prune removes unused images)`;
  if (pct < 5 || free < 1 * GiB) out.push(fail('disk-space', space, fix));
  else if (pct < 15 || free < 5 * GiB) out.push(warn('disk-space', `${space}: below the kubelet's image GC and eviction thresholds soon`, fix));
  else out.push(ok('disk-space', space));
  if (s.files === 0) {
    out.push(ok('inodes', `${path}: the filesystem allocates inodes dynamically`));
  } else {
    const ipct = (100 * s.ffree) / s.files;
    const inodes = `${s.ffree} of ${s.files} inodes free (${ipct.toFixed(0)}%) under ${ctx.config.rootDir}`;
    const ifix = `remove unused images and exited containers (crictl rmi --prune; crictl rm), or use a filesystem with more inodes for ${ctx.config.rootDir}`;
    if (ipct < 5) out.push(fail('inodes', inodes, ifix));
    else if (ipct < 10) out.push(warn('inodes', inodes, ifix));
    else out.push(ok('inodes', inodes));
  }
  return out;
};
