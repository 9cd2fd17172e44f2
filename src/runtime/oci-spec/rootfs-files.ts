// Reads files of a container's rootfs from the host (the image's /etc/passwd and /etc/group for
// user resolution). Symlinks are resolved as if the rootfs were "/" so an image cannot make the
// daemon read host files (e.g. /etc/passwd -> ../../../../etc/shadow).
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, isErrno } from '../../lib/errors.js';
import type { UserFiles } from './user.js';

const MAX_SYMLINKS = 40;
/** passwd/group files larger than this are refused rather than read into memory. */
const MAX_USER_FILE_BYTES = 4 * 1024 * 1024;

/** The host path of `path` inside `root`, with every symlink resolved within the root. */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  let resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '..') {
      resolved.pop(); // ".." at the root stays at the root
      continue;
    }
    const candidate = join(root, ...resolved, name);
    let st;
    try {
      st = await lstat(candidate);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return join(root, ...resolved, name, ...pending);
      throw err;
    }
    if (!st.isSymbolicLink()) {
      resolved.push(name);
      continue;
    }
    if (++hops > MAX_SYMLINKS) throw new InvalidArgumentError(`rootfs path "${path}": too many levels of symbolic links`);
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved = [];
    pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return join(root, ...resolved);
}

/** Contents of a rootfs file, or undefined when it does not exist. */
export async function readRootfsFile(root: string, path: string, maxBytes = MAX_USER_FILE_BYTES): Promise<string | undefined> {
  const host = await resolveInRoot(root, path);
  let st;
  try {
    st = await lstat(host);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
  if (!st.isFile()) throw new InvalidArgumentError(`rootfs file "${path}": not a regular file`);
  if (st.size > maxBytes) throw new InvalidArgumentError(`rootfs file "${path}": ${st.size} bytes is more than the ${maxBytes} allowed`);
  return readFile(host, 'utf8');
}

/** The image's /etc/passwd and /etc/group for buildContainerSpec's userFiles. */
export async function readUserFiles(root: string): Promise<UserFiles> {
  const [passwd, group] = await Promise.all([readRootfsFile(root, '/etc/passwd'), readRootfsFile(root, '/etc/group')]);
  const out: UserFiles = {};
  if (passwd !== undefined) out.passwd = passwd;
  if (group !== undefined) out.group = group;
  return out;
}
