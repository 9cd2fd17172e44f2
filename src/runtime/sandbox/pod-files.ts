// The files every container of a pod shares: hostname, /etc/hosts, /etc/resolv.conf (from the
// pod's DNSConfig or the host's), the pod's own /dev/shm tmpfs, and the sysctl rules (only
// namespaced sysctls, and only for namespaces the pod owns).
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import { mountShmTmpfs, unmount } from '../../lib/mounts.js';
import { atomicWrite } from '../../lib/fsutil.js';
import type { NamespaceMode } from '../container/container-config.js';
import type { PodDns } from '../network/network-plugin.js';

/** containerd's default /dev/shm size per pod. */
export const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;

const POD_HOSTS = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
fe00::0\tip6-mcastprefix
fe00::1\tip6-allnodes
fe00::2\tip6-allrouters
`;

const IPC_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni']);

/** Namespaced sysctls only (as the kubelet allows them); anything else names the key. */
export function validateSysctls(sysctls: Record<string, string>, ns: { network: NamespaceMode; ipc: NamespaceMode }): void {
  for (const [rawKey, value] of Object.entries(sysctls)) {
    const key = rawKey.replace(/\//g, '.');
    if (!/^[a-z0-9_.-]+$/i.test(key) || key.includes('..')) throw new InvalidArgumentError(`sysctl "${rawKey}": not a valid sysctl name`);
    if (/[\n\0]/.test(value)) throw new InvalidArgumentError(`sysctl "${rawKey}": value must be a single line`);
    if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
      if (ns.ipc === 'NODE') throw new InvalidArgumentError(`sysctl "${rawKey}" is not allowed with host IPC (it would change the node's)`);
      continue;
    }
    if (key.startsWith('net.')) {
      if (ns.network === 'NODE') throw new InvalidArgumentError(`sysctl "${rawKey}" is not allowed with host network (it would change the node's)`);
      continue;
    }
    throw new InvalidArgumentError(`sysctl "${rawKey}" is not namespaced; only net.*, kernel.shm*/msg*/sem and fs.mqueue.* may be set for a pod`);
  }
}

/** resolv.conf text from the pod's DNS config, or undefined to use the host's. */
export function resolvConf(dns: PodDns | undefined): string | undefined {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return undefined;
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

export interface PodFilePaths {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

export async function writePodFiles(dir: string, o: { hostname: string; hostNetwork: boolean; dns?: PodDns }): Promise<PodFilePaths> {
  const paths: PodFilePaths = { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') };
  // Not synced: they serve the pod's running containers, which do not outlive the boot; an fsync
  // each would hold the fs thread pool the netns pin and the infra start wait for.
  const write = (path: string, text: string): Promise<void> => atomicWrite(path, text, 0o644, { sync: false });
  const hosts = async (): Promise<void> => write(paths.hosts, o.hostNetwork ? await readFile('/etc/hosts', 'utf8').catch(() => POD_HOSTS) : POD_HOSTS);
  const resolv = async (): Promise<void> => write(paths.resolvConf, resolvConf(o.dns) ?? (await readFile('/etc/resolv.conf', 'utf8').catch(() => '')));
  const rs = await Promise.allSettled([write(paths.hostname, `${o.hostname}\n`), hosts(), resolv()]);
  for (const r of rs) if (r.status === 'rejected') throw r.reason;
  return paths;
}

/** Mount the pod's /dev/shm: a tmpfs of its own size, shared by its containers through the infra. */
/** `owner`: the host ids of the pod's root when the pod has its own user namespace (its /dev/shm is its root's). */
export async function mountShm(path: string, bytes = DEFAULT_SHM_BYTES, owner?: { uid: number; gid: number }): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o755 });
  const ids = owner ? `,uid=${owner.uid},gid=${owner.gid}` : '';
  await mountShmTmpfs(path, `mode=1777,size=${bytes}${ids}`);
}

export { unmount as unmountShm };

/** Lists sub-directories (ids) of a dir, [] when it does not exist. */
export async function listIds(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
}
