// Whether pod networking can be set up: a CNI network config exists, or the plugins that the
// built-in default bridge network needs are installed.
import { readdir } from 'node:fs/promises';
import { findExecutable } from '../fsutil.js';

export interface NetworkReadiness {
  ready: boolean;
  reason: string;
  message: string;
}

export const DEFAULT_NETWORK_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'] as const;

export async function checkNetworkReadiness(confDirs: readonly string[], binDirs: readonly string[]): Promise<NetworkReadiness> {
  for (const dir of confDirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    if (names.some((n) => /\.(conflist|conf|json)$/.test(n))) return { ready: true, reason: '', message: '' };
  }
  const missing: string[] = [];
  for (const plugin of DEFAULT_NETWORK_PLUGINS) {
    if (!(await findExecutable(plugin, binDirs))) missing.push(plugin);
  }
  if (missing.length === 0) return { ready: true, reason: '', message: '' };
  return {
    ready: false,
    reason: 'NetworkPluginNotReady',
    message: `no CNI config in ${confDirs.join(', ')} and default network plugins missing from ${binDirs.join(', ')}: ${missing.join(', ')}`,
  };
}
