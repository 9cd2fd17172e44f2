// Where a container's or pod's cgroup lives on this host, for both drivers and both hierarchies.
//
// The contract with the sandbox and container code: they hand over exactly what they wrote to the
// OCI spec's linux.cgroupsPath (containers, infra) and what the kubelet sent as the pod's
// linux.cgroup_parent. With the cgroupfs driver those are paths ("/kubepods/burstable/pod<uid>/<id>");
// with the systemd driver runc takes "slice:prefix:name" and creates
// "<expanded slice>/<prefix>-<name>.scope", and pod parents are slice names
// ("kubepods-burstable-pod<uid>.slice" -> /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { CgroupDriver } from '../engine/cgroup-driver.js';

/** The v1 controllers stats are read from. */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio', 'hugetlb'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

interface Mount {
  mountPoint: string;
  /** The cgroup the mount shows as its root ("/" on a host, deeper inside a container). */
  root: string;
}

export interface CgroupLayout {
  version: 1 | 2;
  /** v2: the unified hierarchy. */
  unified?: Mount;
  /** v1: controller -> its hierarchy (co-mounted controllers share one). */
  controllers: Partial<Record<V1Controller, Mount>>;
}

/** Reads the layout from mountinfo: v2 when /sys/fs/cgroup (or wherever) is cgroup2 and no v1 memory hierarchy exists. */
export function parseCgroupLayout(mountinfo: string): CgroupLayout {
  const controllers: Partial<Record<V1Controller, Mount>> = {};
  let unified: Mount | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0];
    const root = unescapeMount(left[3] ?? '/');
    const mountPoint = unescapeMount(left[4] ?? '');
    if (fsType === 'cgroup2') {
      // Hybrid hosts mount an empty v2 tree at /sys/fs/cgroup/unified; keep the first (outermost) one.
      if (!unified) unified = { mountPoint, root };
    } else if (fsType === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if ((V1_CONTROLLERS as readonly string[]).includes(opt) && !controllers[opt as V1Controller]) {
          controllers[opt as V1Controller] = { mountPoint, root };
        }
      }
    }
  }
  if (controllers.memory || controllers.cpuacct) return { version: 1, controllers, unified };
  if (unified) return { version: 2, unified, controllers: {} };
  throw new InvalidArgumentError('no cgroup hierarchy is mounted (neither cgroup v1 controllers nor cgroup2)');
}

export function detectCgroupLayout(): CgroupLayout {
  return parseCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice", as systemd nests slices ("-.slice" is the root). */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) throw new InvalidArgumentError(`cgroup parent "${slice}": not a systemd slice name`);
  const name = slice.slice(0, -'.slice'.length);
  if (name === '-') return '/';
  if (name === '' || name.startsWith('-') || name.endsWith('-') || name.includes('--')) {
    throw new InvalidArgumentError(`cgroup parent "${slice}": invalid systemd slice name`);
  }
  let path = '';
  let prefix = '';
  for (const part of name.split('-')) {
    prefix = prefix === '' ? part : `${prefix}-${part}`;
    path += `/${prefix}.slice`;
  }
  return path;
}

/**
 * The cgroup (relative to the hierarchy root, starting with "/") of what runc created for an OCI
 * linux.cgroupsPath under the given driver.
 */
export function containerCgroup(driver: CgroupDriver, cgroupsPath: string): string {
  if (driver === 'systemd') {
    const parts = cgroupsPath.split(':');
    if (parts.length !== 3) throw new InvalidArgumentError(`cgroupsPath "${cgroupsPath}": the systemd driver expects "slice:prefix:name"`);
    const [slice, prefix, name] = parts as [string, string, string];
    const parent = expandSlice(slice === '' ? 'system.slice' : slice);
    // runc: a name that is itself a slice is used as is, anything else becomes "<prefix>-<name>.scope".
    const unit = name.endsWith('.slice') ? name : `${prefix === '' ? '' : `${prefix}-`}${name}.scope`;
    return `${parent === '/' ? '' : parent}/${unit}`;
  }
  return normalizeCgroupfs(cgroupsPath);
}

/** The pod-level cgroup for a CRI linux.cgroup_parent (slice name under systemd, path under cgroupfs). */
export function podCgroup(driver: CgroupDriver, cgroupParent: string): string {
  if (driver === 'systemd' && cgroupParent.endsWith('.slice') && !cgroupParent.includes('/')) return expandSlice(cgroupParent);
  return normalizeCgroupfs(cgroupParent);
}

function normalizeCgroupfs(p: string): string {
  if (p.split('/').includes('..')) throw new InvalidArgumentError(`cgroup path "${p}": must not contain ".."`);
  const clean = '/' + p.split('/').filter((s) => s !== '' && s !== '.').join('/');
  return clean;
}

/** Directory of `cgroup` in one v1 controller's hierarchy, or undefined when the controller is not mounted. */
export function v1Dir(layout: CgroupLayout, controller: V1Controller, cgroup: string): string | undefined {
  const m = layout.controllers[controller];
  return m ? join(m.mountPoint, stripRoot(m.root, cgroup)) : undefined;
}

/** Directory of `cgroup` in the v2 unified hierarchy. */
export function v2Dir(layout: CgroupLayout, cgroup: string): string {
  if (!layout.unified) throw new InvalidArgumentError('no cgroup2 hierarchy is mounted');
  return join(layout.unified.mountPoint, stripRoot(layout.unified.root, cgroup));
}

/** Inside a container the mount shows a sub-tree as "/": paths below that root are rebased on it. */
function stripRoot(root: string, cgroup: string): string {
  if (root === '/' || root === '') return cgroup;
  if (cgroup === root) return '/';
  return cgroup.startsWith(root + '/') ? cgroup.slice(root.length) : cgroup;
}
