// The capability sets of a container process from CRI's add/drop lists, as containerd computes
// them: start from the default set (all of them if privileged), "ALL" in add/drop applies first so
// individual names still work after it ("drop ALL, add NET_BIND_SERVICE").
import { InvalidArgumentError } from '../../errors.js';
import type { Capability } from '../container-config.js';
import { allCapabilities, defaultCapabilities, isKnownCapability } from './defaults.js';
import type { Capabilities } from './types.js';

/** "net_admin" / "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; unknown names are InvalidArgument. */
export function normalizeCapability(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!isKnownCapability(full)) throw new InvalidArgumentError(`${field}: unknown capability "${name}"`);
  return full;
}

export function computeCapabilities(cap: Capability | undefined, privileged: boolean, lastCap?: number): Capabilities {
  const all = allCapabilities(lastCap);
  if (privileged) return { bounding: [...all], effective: [...all], permitted: [...all] };

  const add = cap?.addCapabilities ?? [];
  const drop = cap?.dropCapabilities ?? [];
  const isAll = (c: string): boolean => c.trim().toUpperCase() === 'ALL';
  let set = defaultCapabilities();
  if (add.some(isAll)) set = [...all];
  if (drop.some(isAll)) set = [];
  for (const c of add) {
    if (isAll(c)) continue;
    const n = normalizeCapability(c, 'add_capabilities');
    if (!set.includes(n)) set.push(n);
  }
  for (const c of drop) {
    if (isAll(c)) continue;
    const n = normalizeCapability(c, 'drop_capabilities');
    set = set.filter((x) => x !== n);
  }
  // only what the running kernel knows (runc refuses the rest)
  set = set.filter((c) => all.includes(c));

  const ambient: string[] = [];
  for (const c of cap?.addAmbientCapabilities ?? []) {
    const n = normalizeCapability(c, 'add_ambient_capabilities');
    // an ambient capability must also be permitted and inheritable
    if (!set.includes(n)) set.push(n);
    if (!ambient.includes(n)) ambient.push(n);
  }
  const out: Capabilities = { bounding: [...set], effective: [...set], permitted: [...set] };
  if (ambient.length > 0) {
    out.inheritable = [...ambient];
    out.ambient = [...ambient];
  }
  return out;
}
