// What a container of a pod with its own user namespace mounts instead of the plain thing: its
// overlay stacks idmapped clones of the image's layer snapshots (files owned by host root show as
// the pod's root, the snapshots stay shared with every other pod), its writable layer is owned by
// the pod's root, and its bind sources (volumes, the pod's /etc files, the kubelet's files) are
// idmapped clones under the bundle that the spec binds. The pod's /dev/shm is already its root's
// and image volumes are built on idmapped layers: both are bound as they are.
import { join } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { IdmapMounts } from '../engine/idmap-mounts.js';
import { describeMappings, hostRoot, sameMappings } from '../oci-spec/userns.js';
import type { ContainerMount, IdMappings, SandboxFacts } from './container-config.js';
import type { RootfsMounts } from './container-deps.js';

/**
 * The rootfs overlay at `target` on idmapped clones of `layers` (made under `clonesDir`, dropped
 * again once the overlay holds its own references to them).
 */
export async function mountIdmappedRootfs(
  idmap: IdmapMounts,
  mounts: RootfsMounts,
  userns: IdMappings,
  layers: readonly string[],
  clonesDir: string,
  recordDir: string,
  target: string,
): Promise<{ upperDir: string; workDir: string }> {
  const clones = await idmapLayers(idmap, userns, layers, clonesDir);
  try {
    return await mounts.mountRootfs(clones, recordDir, target, hostRoot(userns));
  } finally {
    await idmap.unmount(clonesDir);
  }
}

/** An image volume at `target`: read-only on idmapped clones of its layers. */
export async function mountIdmappedImage(
  idmap: IdmapMounts,
  mounts: RootfsMounts,
  userns: IdMappings,
  layers: readonly string[],
  clonesDir: string,
  workDir: string,
  target: string,
): Promise<void> {
  const clones = await idmapLayers(idmap, userns, layers, clonesDir);
  try {
    await mounts.mountImageReadOnly(clones, workDir, target);
  } finally {
    await idmap.unmount(clonesDir);
  }
}

async function idmapLayers(idmap: IdmapMounts, userns: IdMappings, layers: readonly string[], clonesDir: string): Promise<string[]> {
  const pairs = layers.map((source, i) => ({ source, target: join(clonesDir, String(i)) }));
  await idmap.bind(userns, pairs, false);
  return pairs.map((p) => p.target);
}

export interface IdmappedBinds {
  /** The mounts with each host bind source replaced by its idmapped clone. */
  mounts: ContainerMount[];
  /** The sandbox facts with the pod's files replaced by their clones. */
  sandbox: SandboxFacts;
}

/**
 * Idmapped clones (under `dir`) of every bind source the container gets from the host: its CRI
 * mounts (not image volumes) and the pod's hostname, hosts and resolv.conf unless it mounts those
 * paths itself. A mount's own uid/gid mappings must be the pod's (the kubelet sends the pod's);
 * propagation other than private cannot cross into the pod's user namespace and is refused.
 */
export async function idmapBindSources(idmap: IdmapMounts, userns: IdMappings, mounts: readonly ContainerMount[], sandbox: SandboxFacts, dir: string): Promise<IdmappedBinds> {
  const pairs: { source: string; target: string }[] = [];
  const out: ContainerMount[] = [];
  for (const [i, m] of mounts.entries()) {
    const { uidMappings, gidMappings, ...plain } = m;
    if (uidMappings || gidMappings) {
      const own: IdMappings = { uids: uidMappings ?? [], gids: gidMappings ?? [] };
      if (!sameMappings(own, userns)) {
        throw new InvalidArgumentError(`mount "${m.containerPath}": uid/gid mappings (${describeMappings(own)}) differ from the pod's user namespace (${describeMappings(userns)})`);
      }
    }
    if (m.image) {
      out.push(plain);
      continue;
    }
    if ((m.propagation ?? 'PROPAGATION_PRIVATE') !== 'PROPAGATION_PRIVATE') {
      throw new InvalidArgumentError(`mount "${m.containerPath}": propagation ${m.propagation} is not supported in a pod with its own user namespace (only private)`);
    }
    const target = join(dir, String(i));
    pairs.push({ source: m.hostPath, target });
    out.push({ ...plain, hostPath: target });
  }
  const own = new Set(mounts.map((m) => m.containerPath.replace(/\/+$/, '')));
  const facts: SandboxFacts = { ...sandbox };
  for (const [key, path, name] of [
    ['hostnamePath', '/etc/hostname', 'hostname'],
    ['hostsPath', '/etc/hosts', 'hosts'],
    ['resolvConfPath', '/etc/resolv.conf', 'resolv.conf'],
  ] as const) {
    const source = sandbox[key];
    if (!source || own.has(path)) continue;
    const target = join(dir, name);
    pairs.push({ source, target });
    facts[key] = target;
  }
  await idmap.bind(userns, pairs, true);
  return { mounts: out, sandbox: facts };
}
