// The mount list of a container: kernel filesystems (defaults.ts), the pod's files (/etc/hosts,
// /etc/hostname, /etc/resolv.conf, /dev/shm) and the CRI mounts, with containerd's rules: a CRI
// mount replaces a default at the same destination (a CRI /dev replaces everything under /dev),
// CRI mounts are ordered by depth so a parent never hides a child (e.g. /dev/termination-log
// lands on the /dev tmpfs), and propagation maps to rprivate / rslave / rshared.
import { posix } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { ContainerMount, HostFacts, NamespaceMode, SandboxFacts } from '../container/container-config.js';
import { defaultMounts } from './defaults.js';
import type { Mount } from './types.js';

/** A container path: absolute, no "..", normalised. */
export function checkContainerPath(path: string, what: string): string {
  if (!path.startsWith('/')) throw new InvalidArgumentError(`${what} "${path}": container path must be absolute`);
  if (path.split('/').includes('..')) throw new InvalidArgumentError(`${what} "${path}": container path must not contain ".."`);
  const clean = posix.normalize(path);
  return clean.length > 1 ? clean.replace(/\/+$/, '') : clean;
}

/** The pod-provided mounts a container gets unless its config mounts the same path itself. */
export function sandboxMounts(sandbox: SandboxFacts, readonlyRootfs: boolean, ipcMode: NamespaceMode): ContainerMount[] {
  const out: ContainerMount[] = [];
  const file = (containerPath: string, hostPath: string | undefined): void => {
    if (hostPath) out.push({ containerPath, hostPath, readonly: readonlyRootfs, selinuxRelabel: true });
  };
  file('/etc/hostname', sandbox.hostnamePath);
  file('/etc/hosts', sandbox.hostsPath);
  file('/etc/resolv.conf', sandbox.resolvConfPath);
  if (ipcMode === 'NODE') out.push({ containerPath: '/dev/shm', hostPath: '/dev/shm', readonly: false, selinuxRelabel: false });
  else if (sandbox.shmPath) out.push({ containerPath: '/dev/shm', hostPath: sandbox.shmPath, readonly: false, selinuxRelabel: true });
  return out;
}

/** One CRI mount as an OCI bind mount; also tells what it needs of the root propagation. */
export function bindMount(m: ContainerMount, host: HostFacts): { mount: Mount; rootfsPropagation?: 'rslave' | 'rshared' } {
  const dest = checkContainerPath(m.containerPath, 'mount');
  if (m.image && m.image.image !== '' && !m.hostPath) {
    throw new InvalidArgumentError(`mount "${m.containerPath}": image volume "${m.image.image}" was not resolved to a host path`);
  }
  if (!m.hostPath.startsWith('/')) throw new InvalidArgumentError(`mount "${m.containerPath}": host path "${m.hostPath}" must be absolute`);
  if ((m.uidMappings?.length ?? 0) > 0 || (m.gidMappings?.length ?? 0) > 0) {
    throw new InvalidArgumentError(`mount "${m.containerPath}": id-mapped mounts (uid_mappings/gid_mappings) need user namespaces: only a pod with its own (hostUsers: false) can have them`);
  }
  const propagation = m.propagation ?? 'PROPAGATION_PRIVATE';
  const options = ['rbind'];
  let rootfsPropagation: 'rslave' | 'rshared' | undefined;
  switch (propagation) {
    case 'PROPAGATION_PRIVATE':
      options.push('rprivate');
      break;
    case 'PROPAGATION_HOST_TO_CONTAINER':
      options.push('rslave');
      rootfsPropagation = 'rslave';
      break;
    case 'PROPAGATION_BIDIRECTIONAL':
      options.push('rshared');
      rootfsPropagation = 'rshared';
      break;
    default:
      throw new InvalidArgumentError(`mount "${m.containerPath}": unknown propagation "${String(propagation)}"`);
  }
  if (m.recursiveReadOnly) {
    if (!m.readonly) throw new InvalidArgumentError(`mount "${m.containerPath}": recursive read-only needs readonly`);
    if (propagation !== 'PROPAGATION_PRIVATE') {
      throw new InvalidArgumentError(`mount "${m.containerPath}": recursive read-only needs private propagation`);
    }
    if (!host.supportsRecursiveReadOnly) {
      throw new InvalidArgumentError(`mount "${m.containerPath}": recursive read-only mounts are not supported on this node (needs Linux 5.12+ and runc 1.1+)`);
    }
    options.push('rro');
  } else options.push(m.readonly ? 'ro' : 'rw');
  const mount: Mount = { destination: dest, type: 'bind', source: m.hostPath, options };
  return rootfsPropagation ? { mount, rootfsPropagation } : { mount };
}

export interface MountPlan {
  mounts: Mount[];
  /** Set when a mount needs host-to-container or bidirectional propagation. */
  rootfsPropagation?: 'rslave' | 'rshared';
}

/**
 * All mounts of the container in order: the defaults not overridden, then CRI + pod mounts by depth.
 * Privileged containers get a read-write /sys and /sys/fs/cgroup.
 */
export function planMounts(criMounts: readonly ContainerMount[], extra: readonly ContainerMount[], host: HostFacts, privileged: boolean): MountPlan {
  const wanted = new Set(criMounts.map((m) => checkContainerPath(m.containerPath, 'mount')));
  // the pod's files only where the config does not mount the same path itself
  const all = [...criMounts, ...extra.filter((m) => !wanted.has(checkContainerPath(m.containerPath, 'mount')))];
  const binds = all.map((m) => bindMount(m, host));
  const destinations = new Set(binds.map((b) => b.mount.destination));

  const mounts: Mount[] = [];
  for (const d of defaultMounts()) {
    if (destinations.has(d.destination)) continue;
    if (destinations.has('/dev') && d.destination.startsWith('/dev/')) continue;
    if (privileged && (d.destination === '/sys' || d.destination === '/sys/fs/cgroup')) {
      d.options = (d.options ?? []).filter((o) => o !== 'ro').concat('rw');
    }
    mounts.push(d);
  }
  const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);
  const ordered = binds.map((b, i) => ({ b, i })).sort((x, y) => depth(x.b.mount.destination) - depth(y.b.mount.destination) || x.i - y.i);
  let rootfsPropagation: 'rslave' | 'rshared' | undefined;
  for (const { b } of ordered) {
    mounts.push(b.mount);
    if (b.rootfsPropagation === 'rshared') rootfsPropagation = 'rshared';
    else if (b.rootfsPropagation === 'rslave' && rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
  }
  return rootfsPropagation ? { mounts, rootfsPropagation } : { mounts };
}

/** What the host must provide before runc can honour the mounts (checked by an I/O helper). */
export interface HostMountRequirement {
  hostPath: string;
  /** bidirectional needs the host mount shared; host-to-container needs shared or slave. */
  propagation?: 'shared' | 'sharedOrSlave';
  /** Relabel the source with the pod's SELinux mount label (only when SELinux is on). */
  relabel?: boolean;
}

/** The host-side preparations the mounts need (propagation of the source mount, SELinux relabel). */
export function hostMountRequirements(mounts: readonly ContainerMount[], host: HostFacts): HostMountRequirement[] {
  const out: HostMountRequirement[] = [];
  for (const m of mounts) {
    const req: HostMountRequirement = { hostPath: m.hostPath };
    if (m.propagation === 'PROPAGATION_BIDIRECTIONAL') req.propagation = 'shared';
    else if (m.propagation === 'PROPAGATION_HOST_TO_CONTAINER') req.propagation = 'sharedOrSlave';
    // relabelling system directories would break the host; containerd has the same list
    if (host.selinuxEnabled && m.selinuxRelabel && !['/', '/etc', '/usr', '/var', '/home'].includes(posix.normalize(m.hostPath))) {
      req.relabel = true;
    }
    if (req.propagation || req.relabel) out.push(req);
  }
  return out;
}
