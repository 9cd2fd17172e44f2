// Finding and reading the CNI network config: the first *.conflist/*.conf/*.json (by file name)
// across the configured dirs, as the kubelet-era runtimes do. A single-plugin .conf becomes a
// one-entry list. With no config at all, the built-in default network applies when it is on
// (cni.defaultNetwork); otherwise a pod network cannot be set up until a config appears.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../../../lib/errors.js';
import type { NetworkConfigList, PluginConf } from './types.js';

export interface FoundConfig {
  /** File it came from; undefined for the built-in default. */
  file?: string;
  config: NetworkConfigList;
}

/** Parse one config file's text; throws InvalidArgumentError naming the file and the problem. */
export function parseNetworkConfig(text: string, file: string): NetworkConfigList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`CNI config ${file}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new InvalidArgumentError(`CNI config ${file}: must be a JSON object`);
  const obj = raw as Record<string, unknown>;
  const name = obj.name;
  const cniVersion = typeof obj.cniVersion === 'string' ? obj.cniVersion : '0.3.1';
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError(`CNI config ${file}: "name" is missing`);
  let plugins: PluginConf[];
  if (Array.isArray(obj.plugins)) {
    plugins = obj.plugins as PluginConf[];
  } else if (typeof obj.type === 'string') {
    plugins = [obj as PluginConf];
  } else {
    throw new InvalidArgumentError(`CNI config ${file}: neither "plugins" nor "type" is set`);
  }
  if (plugins.length === 0) throw new InvalidArgumentError(`CNI config ${file}: "plugins" is empty`);
  for (const [i, p] of plugins.entries()) {
    if (typeof p !== 'object' || p === null || typeof p.type !== 'string' || p.type === '') {
      throw new InvalidArgumentError(`CNI config ${file}: plugin ${i} has no "type"`);
    }
  }
  return { cniVersion, name, disableCheck: obj.disableCheck === true, plugins };
}

/** The first network config in `dirs`, or undefined when there is none. */
export async function findNetworkConfig(dirs: readonly string[]): Promise<FoundConfig | undefined> {
  for (const dir of dirs) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort();
    const first = names[0];
    if (first === undefined) continue;
    const file = join(dir, first);
    return { file, config: parseNetworkConfig(await readFile(file, 'utf8'), file) };
  }
  return undefined;
}

/** Why there is no pod network: no config, and the built-in network is off. */
export function noNetworkConfigMessage(dirs: readonly string[]): string {
  return `network plugin not initialized: no CNI config in ${dirs.join(', ')} and the built-in default network is off (cni.defaultNetwork); waiting for the cluster's network plugin to install one`;
}

/**
 * The network a pod gets now: the first config file, else the built-in network when `builtin` is
 * given; with neither, FailedPrecondition naming the dirs.
 */
export async function selectNetwork(dirs: readonly string[], builtin: DefaultNetworkOptions | undefined): Promise<FoundConfig> {
  const found = await findNetworkConfig(dirs);
  if (found) return found;
  if (!builtin) throw new FailedPreconditionError(noNetworkConfigMessage(dirs));
  return { config: defaultNetworkConfig(builtin) };
}

export interface DefaultNetworkOptions {
  bridge: string;
  subnet: string;
  /** host-local's allocation dir. */
  ipamDataDir: string;
}

export const DEFAULT_NETWORK_NAME = 'nexcage-default';

/** The built-in network: a bridge with host-local IPAM, masquerade, and portmap for hostPorts (run only for pods with some). */
export function defaultNetworkConfig(o: DefaultNetworkOptions): NetworkConfigList {
  return {
    cniVersion: '1.0.0',
    name: DEFAULT_NETWORK_NAME,
    plugins: [
      {
        type: 'bridge',
        bridge: o.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: o.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: o.ipamDataDir },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}
