// Whether pod networking can be set up (Status NetworkReady), judged the way the CNI executor
// (cni/cni-network.ts) will pick its network: the first CNI config must parse and all of its
// plugins (plus loopback) must be installed; with no config, the built-in default network's
// plugins must be, or, with the built-in network turned off, the node is not ready until the
// cluster's network plugin writes a config (the kubelet keeps pods off the node meanwhile).
// The config dirs are read on every call, so a config that appears is picked up without a restart.
import { findExecutable } from '../../lib/fsutil.js';
import { errorMessage } from '../../lib/errors.js';
import { findNetworkConfig, noNetworkConfigMessage } from './cni/conflist.js';
import type { NetworkReadiness } from './network-plugin.js';

export type { NetworkReadiness };

export const DEFAULT_NETWORK_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'] as const;

export interface ReadinessOptions {
  /** Whether the built-in bridge network stands in when no CNI config exists. */
  defaultNetwork: boolean;
}

export async function checkNetworkReadiness(
  confDirs: readonly string[],
  binDirs: readonly string[],
  options: ReadinessOptions = { defaultNetwork: true },
): Promise<NetworkReadiness> {
  let found;
  try {
    found = await findNetworkConfig(confDirs);
  } catch (err) {
    return { ready: false, reason: 'NetworkPluginInvalidConfig', message: errorMessage(err) };
  }
  if (!found && !options.defaultNetwork) return { ready: false, reason: 'NetworkPluginNotReady', message: noNetworkConfigMessage(confDirs) };
  const types = found ? new Set(['loopback', ...found.config.plugins.map((p) => p.type), ...ipamTypes(found.config.plugins)]) : new Set<string>(DEFAULT_NETWORK_PLUGINS);
  const missing: string[] = [];
  for (const t of types) if (!(await findExecutable(t, binDirs))) missing.push(t);
  if (missing.length === 0) return { ready: true, reason: '', message: '' };
  const what = found?.file ? `CNI config ${found.file}` : `no CNI config in ${confDirs.join(', ')}; the built-in default network`;
  return { ready: false, reason: 'NetworkPluginNotReady', message: `${what} needs plugins missing from ${binDirs.join(', ')}: ${missing.join(', ')}` };
}

function ipamTypes(plugins: readonly Record<string, unknown>[]): string[] {
  return plugins.flatMap((p) => {
    const ipam = p.ipam as { type?: unknown } | undefined;
    return typeof ipam?.type === 'string' && ipam.type !== '' ? [ipam.type] : [];
  });
}
