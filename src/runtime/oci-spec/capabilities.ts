// The capability sets of a container process from CRI's add/drop lists, as containerd computes
// them: start from the default set (all of them if privileged), "ALL" in add/drop applies first so
// individual names still work after it ("drop ALL, add NET_BIND_SERVICE").
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.js';
import type { Capability, HostFacts } from '../container/container-config.js';
import { allCapabilities, defaultCapabilities, isKnownCapability } from './defaults.js';
import type { Capabilities } from './types.js';

/** "net_admin" / "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; unknown names are InvalidArgument. */
export function normalizeCapability(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!isKnownCapability(full)) throw new InvalidArgumentError(`${field}: unknown capability "${name}"`);
  return full;
}

/** What a container may be given on this node: the kernel's capabilities the daemon itself holds. */
export function availableCapabilities(host: Pick<HostFacts, 'capLastCap' | 'daemonCapabilities'>): string[] {
  const known = allCapabilities(host.capLastCap);
  return host.daemonCapabilities ? known.filter((c) => host.daemonCapabilities!.includes(c)) : known;
}

/** `available`: availableCapabilities(host); privileged and "ALL" mean all of these. */
export function computeCapabilities(cap: Capability | undefined, privileged: boolean, available: readonly string[] = allCapabilities()): Capabilities {
  const all = [...available];
  if (privileged) return { bounding: [...all], effective: [...all], permitted: [...all] };
  const refuseMissing = (n: string, field: string): void => {
    if (!all.includes(n)) {
      throw new FailedPreconditionError(`${field}: ${n} cannot be granted on this node (the runtime does not hold it)`);
    }
  };

  const add = cap?.addCapabilities ?? [];
  const drop = cap?.dropCapabilities ?? [];
  const isAll = (c: string): boolean => c.trim().toUpperCase() === 'ALL';
  let set = defaultCapabilities();
  if (add.some(isAll)) set = [...all];
  if (drop.some(isAll)) set = [];
  for (const c of add) {
    if (isAll(c)) continue;
    const n = normalizeCapability(c, 'add_capabilities');
    refuseMissing(n, 'add_capabilities');
    if (!set.includes(n)) set.push(n);
  }
  for (const c of drop) {
    if (isAll(c)) continue;
    const n = normalizeCapability(c, 'drop_capabilities');
    set = set.filter((x) => x !== n);
  }
  // defaults the node cannot give are left out rather than failing every container
  set = set.filter((c) => all.includes(c));

  const ambient: string[] = [];
  for (const c of cap?.addAmbientCapabilities ?? []) {
    const n = normalizeCapability(c, 'add_ambient_capabilities');
    refuseMissing(n, 'add_ambient_capabilities');
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
