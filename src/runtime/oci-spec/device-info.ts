// Reads host device nodes (type, major/minor, mode, owner) for the spec builder, which stays pure.
// A CRI device may name a node or a directory of nodes (e.g. /dev/snd), as with containerd.
import { lstat, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { InvalidArgumentError, isErrno } from '../../lib/errors.js';
import type { ContainerDevice, HostDevice } from '../container/container-config.js';

/** A CRI device with the host node's facts: what the builder turns into linux.devices. */
export interface ResolvedDevice extends HostDevice {
  containerPath: string;
  permissions: string;
}

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;

/** Linux dev_t split (glibc's gnu_dev_major/minor), for the 64-bit value stat returns. */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev & 0xfff00n) >> 8n) | ((rdev & 0xfffff00000000000n) >> 32n));
  const minor = Number((rdev & 0xffn) | ((rdev & 0xffffff00000n) >> 12n));
  return { major, minor };
}

/** The node at `path` (symlinks followed), or undefined when it is not a char/block device. */
export async function statDevice(path: string): Promise<HostDevice | undefined> {
  const st = await stat(path, { bigint: true });
  const fmt = Number(st.mode) & S_IFMT;
  if (fmt !== S_IFCHR && fmt !== S_IFBLK) return undefined;
  return {
    path,
    type: fmt === S_IFCHR ? 'c' : 'b',
    ...splitDev(st.rdev),
    fileMode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/**
 * Resolves the CRI devices: a node maps to its container path; a directory maps every node below
 * it to the same relative path under the container path. Missing or non-device paths are
 * InvalidArgument naming the path.
 */
export async function resolveDevices(devices: readonly ContainerDevice[]): Promise<ResolvedDevice[]> {
  const out: ResolvedDevice[] = [];
  for (const d of devices) {
    let st;
    try {
      st = await stat(d.hostPath);
    } catch (err) {
      const why = isErrno(err, 'ENOENT') ? 'does not exist' : (err as Error).message;
      throw new InvalidArgumentError(`device "${d.hostPath}": ${why}`, { cause: err });
    }
    if ((st.mode & S_IFMT) === S_IFDIR) {
      for (const node of await listDevices(d.hostPath)) {
        const rel = node.path.slice(d.hostPath.replace(/\/+$/, '').length);
        out.push({ ...node, containerPath: posix.join(d.containerPath, rel), permissions: d.permissions });
      }
      continue;
    }
    const node = await statDevice(d.hostPath);
    if (!node) throw new InvalidArgumentError(`device "${d.hostPath}": not a character or block device`);
    out.push({ ...node, containerPath: d.containerPath, permissions: d.permissions });
  }
  return out;
}

/**
 * Every device node under `dir` (default /dev), for privileged containers. Skips /dev/pts,
 * /dev/shm, /dev/mqueue (the container has its own), symlinks and nodes that vanish meanwhile.
 */
export async function listDevices(dir = '/dev'): Promise<HostDevice[]> {
  const skip = new Set(['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/.lxc', '/dev/.udev']);
  const out: HostDevice[] = [];
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(d)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'EACCES')) return;
      throw err;
    }
    for (const name of names) {
      const p = join(d, name);
      if (skip.has(p)) continue;
      let st;
      try {
        st = await lstat(p);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      if (st.isDirectory()) await walk(p);
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        // /dev/console belongs to the container's terminal, not the host's
        if (p === '/dev/console') continue;
        const node = await statDevice(p).catch(() => undefined);
        if (node) out.push(node);
      }
    }
  };
  await walk(dir);
  return out;
}
