// The built-in infra (pause) container's root filesystem, laid out by the daemon so no image pull
// is needed: Debian's statically linked catatonit as /pause (run with -P: just hold the
// namespaces and reap), plus the empty mount points runc needs. One copy, shared read-only by
// every pod; written once and swapped in atomically so a crash never leaves half a rootfs.
import { copyFile, mkdir, rename, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError } from '../../lib/errors.js';
import { findExecutable } from '../../lib/fsutil.js';

export const INFRA_ARGS = ['/pause', '-P'];

/** Returns the rootfs path, laying it out when missing. */
export async function ensureInfraRootfs(dir: string, initBinary = 'catatonit'): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  if (await stat(join(rootfs, 'pause')).then(() => true, () => false)) return rootfs;
  const binary = await findExecutable(initBinary, ['/usr/bin', '/usr/libexec/catatonit', '/usr/local/bin', '/bin']);
  if (!binary) throw new FailedPreconditionError(`infra init "${initBinary}" not found (install Debian package catatonit)`);
  const tmp = join(dir, `.rootfs-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  for (const d of ['proc', 'dev', 'sys', 'etc', 'tmp']) await mkdir(join(tmp, d), { recursive: true, mode: 0o755 });
  for (const f of ['hosts', 'hostname', 'resolv.conf']) await writeFile(join(tmp, 'etc', f), '');
  await writeFile(join(tmp, 'etc', 'passwd'), 'root:x:0:0:root:/:/pause\nnobody:x:65534:65534:nobody:/:/pause\n');
  await writeFile(join(tmp, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\n');
  await copyFile(binary, join(tmp, 'pause'));
  await chmod(join(tmp, 'pause'), 0o755);
  await rm(rootfs, { recursive: true, force: true });
  await rename(tmp, rootfs);
  return rootfs;
}
