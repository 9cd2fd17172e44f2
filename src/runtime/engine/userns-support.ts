// Whether this host can run user-namespaced pods (hostUsers: false), checked once at start: the
// kernel has user namespaces and idmaps overlayfs layers (5.19+), the image store's and the state
// dir's filesystems take idmapped mounts, and the state dir can be walked by a pod's root (runc
// mounts the rootfs from inside the pod's user namespace, where host root's 0700 dirs are closed).
// The OCI runtime's own support is each handler's `features` (runtime-handlers.ts).
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface UsernsProbeOptions {
  kernelRelease: string;
  rootDir: string;
  stateDir: string;
  /** Why idmapped mounts fail on these paths' filesystems ([] = they work). */
  idmapCheck(paths: readonly string[]): Promise<string[]>;
  /** Filesystem root for /proc reads, "/" on a real node. */
  root?: string;
}

/** undefined when user-namespaced pods can run here, else why not (one sentence for Status and the log). */
export async function probeUsernsSupport(o: UsernsProbeOptions): Promise<string | undefined> {
  const m = /^(\d+)\.(\d+)/.exec(o.kernelRelease);
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (major < 5 || (major === 5 && minor < 19)) return `kernel ${o.kernelRelease} cannot idmap overlayfs layers (5.19 or newer is needed)`;
  const root = (o.root ?? '/').replace(/\/?$/, '/');
  const max = Number((await readFile(`${root}proc/sys/user/max_user_namespaces`, 'utf8').catch(() => '0')).trim());
  if (!(max > 0)) return 'user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0 or missing)';
  const closed = await unsearchableAncestor(o.stateDir);
  if (closed) {
    return `the state dir ${o.stateDir} cannot be reached by a pod's root: ${closed.path} (mode ${closed.mode.toString(8).padStart(4, '0')}) is not searchable by other users (chmod o+x)`;
  }
  const failures = await o.idmapCheck([o.rootDir, o.stateDir]);
  if (failures.length > 0) return `idmapped mounts do not work here: ${failures.join('; ')}`;
  return undefined;
}

/** The first directory from `/` down to `dir` that others cannot search (no o+x), if any. */
export async function unsearchableAncestor(dir: string): Promise<{ path: string; mode: number } | undefined> {
  const chain: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    const st = await stat(p).catch(() => undefined);
    if (!st) return { path: p, mode: 0 };
    if ((st.mode & 0o001) === 0) return { path: p, mode: st.mode & 0o7777 };
  }
  return undefined;
}
