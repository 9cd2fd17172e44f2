// Whether pod networking can be set up (Status NetworkReady), judged the way the CNI executor
// (cni/cni-network.ts) will pick its network: the first CNI config must parse and all of its
// plugins (plus loopback) must be installed; with no config, the built-in default network's
// plugins must be, or, with the built-in network turned off, the node is not ready until the
// cluster's network plugin writes a config (the kubelet keeps pods off the node meanwhile).
// The config dirs are read again whenever they change, so a config that appears is picked up without a restart.
import { statSync } from 'node:fs';
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

/**
 * checkNetworkReadiness for the kubelet's Status poll: reading and parsing the CNI config on every
 * call cost milliseconds, so the answer is kept while the config and plugin dirs are unchanged
 * (their mtimes, and the chosen config file's, one stat each), and re-checked in the background
 * after `maxAgeMs` for changes a stat cannot see (a file rewritten in place within one mtime tick).
 * A plugin binary removed from a bin dir changes that dir's mtime too.
 */
export class NetworkReadinessCache {
  private cached: { key: string; at: number; answer: NetworkReadiness; file: string | undefined } | undefined;
  private refreshing: Promise<unknown> | undefined;
  private last: NetworkReadiness | undefined;

  constructor(
    private readonly confDirs: readonly string[],
    private readonly binDirs: readonly string[],
    private readonly options: ReadinessOptions = { defaultNetwork: true },
    private readonly maxAgeMs = 5_000,
  ) {}

  async check(): Promise<NetworkReadiness> {
    const c = this.cached;
    if (c && c.key === this.key(c.file)) {
      if (Date.now() - c.at >= this.maxAgeMs) this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
      return c.answer;
    }
    return this.refresh();
  }

  private async refresh(): Promise<NetworkReadiness> {
    // Key taken before reading: a change during the read makes the next call read again.
    const file = await firstConfigFile(this.confDirs);
    const key = this.key(file);
    const answer = await checkNetworkReadiness(this.confDirs, this.binDirs, this.options);
    // The same answer stays the same object, so callers can tell "unchanged" by identity.
    const prev = this.last;
    const kept = prev && prev.ready === answer.ready && prev.reason === answer.reason && prev.message === answer.message ? prev : answer;
    this.last = kept;
    // Only a ready answer is kept: a node waiting for its network plugin looks again on every call.
    this.cached = answer.ready ? { key, at: Date.now(), answer: kept, file } : undefined;
    return kept;
  }

  private key(file: string | undefined): string {
    return [...this.confDirs, ...this.binDirs, ...(file ? [file] : [])].map(mtimeOf).join(',');
  }
}

function mtimeOf(path: string): string {
  return statSync(path, { bigint: true, throwIfNoEntry: false })?.mtimeNs.toString() ?? '-';
}

async function firstConfigFile(dirs: readonly string[]): Promise<string | undefined> {
  try {
    return (await findNetworkConfig(dirs))?.file;
  } catch {
    return undefined;
  }
}
