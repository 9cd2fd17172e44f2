// Whether pod networking can be set up (Status NetworkReady), judged the way the CNI executor
// (cni/cni-network.ts) will pick its network: the first CNI config must parse and all of its
// plugins (plus loopback) must be installed; with no config, the built-in default network's
// plugins must be.
import { findExecutable } from '../../lib/fsutil.js';
import { errorMessage } from '../../lib/errors.js';
import { findNetworkConfig } from './cni/conflist.js';
import type { NetworkReadiness } from './network-plugin.js';

export type { NetworkReadiness };

export const DEFAULT_NETWORK_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'] as const;

export async function checkNetworkReadiness(confDirs: readonly string[], binDirs: readonly string[]): Promise<NetworkReadiness> {
  let found;
  try {
    found = await findNetworkConfig(confDirs);
  } catch (err) {
    return { ready: false, reason: 'NetworkPluginInvalidConfig', message: errorMessage(err) };
  }
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
