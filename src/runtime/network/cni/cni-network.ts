// NetworkPlugin over CNI 1.x, executed directly (no CNI library exists for Node): plugins are run
// in list order for ADD (each gets the previous result), reverse order for DEL, with CNI_ARGS
// carrying K8S_POD_* and runtimeConfig carrying the capability args a plugin declares
// (portMappings, dns, ips). The loopback plugin brings `lo` up in every pod, as containerd does,
// unless the netns pin did already. The ADD result and the exact config used are cached on disk per pod, so DEL and CHECK
// run exactly as ADD did even after the config changed or the daemon restarted.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter } from 'prom-client';
import { InternalError, InvalidArgumentError, errorMessage } from '../../../lib/errors.js';
import { run } from '../../../lib/exec.js';
import { atomicWriteJson, findExecutable, readJsonIfExists } from '../../../lib/fsutil.js';
import type { Logger } from '../../../lib/log.js';
import { registry } from '../../../lib/metrics.js';
import type { NetworkPlugin, NetworkReadiness, PodNetworkRequest, PodNetworkStatus } from '../network-plugin.js';
import { checkNetworkReadiness } from '../network-readiness.js';
import { selectNetwork, type DefaultNetworkOptions, type FoundConfig } from './conflist.js';
import type { CachedNetwork, CniError, CniResult, NetworkConfigList, PluginConf } from './types.js';

export const cniErrors = new Counter({
  name: 'nexcage_cni_errors_total',
  help: 'CNI plugin invocations that failed, by command (ADD, DEL, CHECK) and plugin type.',
  labelNames: ['command', 'plugin'] as const,
  registers: [registry],
});

export interface CniNetworkOptions {
  confDirs: readonly string[];
  binDirs: readonly string[];
  /** Where ADD results are cached (persistent across daemon restarts). */
  cacheDir: string;
  /** The built-in network used when no config exists; absent = none (pods wait for a config). */
  defaultNetwork?: DefaultNetworkOptions;
  log: Logger;
  timeoutMs?: number;
}

const IFNAME = 'eth0';
const LOOPBACK: NetworkConfigList = { cniVersion: '1.0.0', name: 'cni-loopback', plugins: [{ type: 'loopback' }] };

export class CniNetwork implements NetworkPlugin {
  constructor(private readonly o: CniNetworkOptions) {}

  /** The network to use now: the first config file, else the built-in default (when on). */
  async network(): Promise<FoundConfig> {
    return selectNetwork(this.o.confDirs, this.o.defaultNetwork);
  }

  async readiness(): Promise<NetworkReadiness> {
    return checkNetworkReadiness(this.o.confDirs, this.o.binDirs, { defaultNetwork: this.o.defaultNetwork !== undefined });
  }

  async setUp(req: PodNetworkRequest): Promise<PodNetworkStatus> {
    const found = await this.network();
    const cniArgs = [
      'IgnoreUnknown=1',
      `K8S_POD_NAMESPACE=${req.podNamespace}`,
      `K8S_POD_NAME=${req.podName}`,
      `K8S_POD_INFRA_CONTAINER_ID=${req.podId}`,
      `K8S_POD_UID=${req.podUid}`,
    ].join(';');
    const runtimeConfig: Record<string, unknown> = {};
    // The kubelet sends a mapping for every containerPort, host_port 0 when no hostPort was asked;
    // only mappings with a host port are forwarded (portmap refuses port 0), as containerd does.
    const portMappings = req.portMappings.filter((p) => p.hostPort > 0);
    // The built-in network's portmap does nothing for a pod without host ports (ADD passes the
    // result on, DEL finds no rule): one process fewer. DEL runs the cached chain, so it matches.
    const config = !found.file && portMappings.length === 0 ? { ...found.config, plugins: found.config.plugins.filter((p) => p.type !== 'portmap') } : found.config;
    if (portMappings.length > 0) runtimeConfig.portMappings = portMappings.map((p) => ({ ...p }));
    if (req.dns && (req.dns.servers.length || req.dns.searches.length || req.dns.options.length)) runtimeConfig.dns = { ...req.dns };
    if (req.ips && req.ips.length > 0) runtimeConfig.ips = [...req.ips];
    const cached: CachedNetwork = { podId: req.podId, netnsPath: req.netnsPath, ifName: IFNAME, cniArgs, config, runtimeConfig };
    // Cached (and synced) before ADD: a crash in the middle, even of the machine, still leaves what
    // DEL needs to release the IP the plugins may have allocated on disk.
    await atomicWriteJson(this.cachePath(req.podId), cached);
    try {
      // lo and eth0 are independent: bring them up side by side. Both are waited for, also when one
      // fails, so no plugin is still running in the netns while the undo (and the caller) go on.
      const loTask = req.loopbackUp ? Promise.resolve(undefined) : this.runList('ADD', LOOPBACK, { ...cached, ifName: 'lo', runtimeConfig: {} });
      const [lo, eth] = await Promise.allSettled([loTask, this.runList('ADD', config, cached)]);
      if (eth.status === 'rejected') throw eth.reason;
      if (lo.status === 'rejected') throw lo.reason;
      const result = eth.value;
      if (!result) throw new InternalError(`CNI network "${config.name}" returned no result for pod "${req.podId}"`);
      cached.result = result;
      // Not synced: DEL needs only what was synced above.
      await atomicWriteJson(this.cachePath(req.podId), cached, 0o644, { sync: false });
      return { ips: podIps(result), network: config.name };
    } catch (err) {
      // Release whatever the plugins that did run allocated (IPs, iptables rules, veths).
      await this.runList('DEL', config, cached).catch((e: unknown) => this.o.log.warn({ err: e, podId: req.podId }, 'CNI DEL after failed ADD failed'));
      await rm(this.cachePath(req.podId), { force: true });
      throw err;
    }
  }

  async tearDown(podId: string, netnsPath: string): Promise<void> {
    const cached = await readJsonIfExists<CachedNetwork>(this.cachePath(podId));
    if (!cached) {
      // Nothing was ever set up (or DEL already ran): DEL is idempotent, so this is success.
      return;
    }
    await this.runList('DEL', cached.config, { ...cached, netnsPath });
    await rm(this.cachePath(podId), { force: true });
  }

  async check(podId: string, netnsPath: string): Promise<void> {
    const cached = await readJsonIfExists<CachedNetwork>(this.cachePath(podId));
    if (!cached?.result) throw new InternalError(`pod "${podId}" has no cached network result to check`);
    if (cached.config.disableCheck || versionLess(cached.config.cniVersion, '0.4.0')) return;
    await this.runList('CHECK', cached.config, { ...cached, netnsPath });
  }

  async cachedPods(): Promise<string[]> {
    const names = await readdir(this.o.cacheDir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -'.json'.length));
  }

  private cachePath(podId: string): string {
    return join(this.o.cacheDir, `${podId}.json`);
  }

  private async runList(command: 'ADD' | 'DEL' | 'CHECK', list: NetworkConfigList, c: CachedNetwork): Promise<CniResult | undefined> {
    const plugins = command === 'DEL' ? [...list.plugins].reverse() : list.plugins;
    let prev: CniResult | undefined = command === 'ADD' ? undefined : c.result;
    const errors: string[] = [];
    for (const plugin of plugins) {
      try {
        const out = await this.exec(command, list, plugin, c, prev);
        if (command === 'ADD') prev = out;
      } catch (err) {
        cniErrors.inc({ command, plugin: plugin.type });
        // DEL goes on through the chain so one failing plugin does not strand the others' state.
        if (command !== 'DEL') throw err;
        errors.push(errorMessage(err));
      }
    }
    if (errors.length > 0) throw new InternalError(`CNI DEL of network "${list.name}" for pod "${c.podId}": ${errors.join('; ')}`);
    return prev;
  }

  private async exec(
    command: 'ADD' | 'DEL' | 'CHECK',
    list: NetworkConfigList,
    plugin: PluginConf,
    c: CachedNetwork,
    prev: CniResult | undefined,
  ): Promise<CniResult | undefined> {
    const binary = await findExecutable(plugin.type, this.o.binDirs);
    if (!binary) {
      throw new InvalidArgumentError(`CNI plugin "${plugin.type}" of network "${list.name}" not found in ${this.o.binDirs.join(', ')}`);
    }
    const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
      if (on && c.runtimeConfig[cap] !== undefined) rc[cap] = c.runtimeConfig[cap];
    }
    if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
    if (prev) conf.prevResult = prev;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: c.podId,
      CNI_NETNS: c.netnsPath,
      CNI_IFNAME: c.ifName,
      CNI_ARGS: c.cniArgs,
      CNI_PATH: this.o.binDirs.join(':'),
    };
    const what = `CNI ${command} of plugin "${plugin.type}" (network "${list.name}") for pod "${c.podId}"`;
    let res;
    try {
      res = await run(binary, [], { input: JSON.stringify(conf), env, timeoutMs: this.o.timeoutMs ?? 60_000, allowFailure: true });
    } catch (err) {
      // A plugin that hangs (timeout) or cannot be started: name it, not just its path.
      throw new InternalError(`${what} failed: ${errorMessage(err)}`, { cause: err });
    }
    if (res.exitCode !== 0) {
      let why = res.stderr.trim();
      try {
        const e = JSON.parse(res.stdout) as CniError;
        why = `${e.msg}${e.details ? ` (${e.details})` : ''} [code ${e.code}]`;
      } catch {
        // not a CNI error object: keep stderr
      }
      throw new InternalError(`${what} failed: ${why || (res.signal ? `killed by ${res.signal}` : `exit code ${res.exitCode ?? 'unknown'}`)}`);
    }
    if (command !== 'ADD' || res.stdout.trim() === '') return undefined;
    return parseResult(res.stdout, what);
  }
}

/** A plugin's ADD output, checked for the parts nexcage reads (the pod IPs come from it). */
function parseResult(text: string, what: string): CniResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InternalError(`${what} printed a result that is not JSON: ${errorMessage(err)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InternalError(`${what} printed a result that is not a JSON object`);
  const { ips, interfaces } = raw as Record<string, unknown>;
  const isAddress = (ip: unknown): boolean => typeof ip === 'object' && ip !== null && typeof (ip as { address?: unknown }).address === 'string';
  if (ips !== undefined && (!Array.isArray(ips) || !ips.every(isAddress))) throw new InternalError(`${what} printed a result whose "ips" is not a list of addresses`);
  if (interfaces !== undefined && !Array.isArray(interfaces)) throw new InternalError(`${what} printed a result whose "interfaces" is not a list`);
  return raw as CniResult;
}

/** IPs of the pod's interface(s), IPv4 first (the primary pod IP), without prefix length. */
export function podIps(result: CniResult): string[] {
  const sandboxIfaces = new Set((result.interfaces ?? []).flatMap((iface, i) => (iface.sandbox ? [i] : [])));
  const ips = (result.ips ?? [])
    .filter((ip) => ip.interface === undefined || sandboxIfaces.size === 0 || sandboxIfaces.has(ip.interface))
    .map((ip) => ip.address.split('/')[0] as string);
  return [...ips.filter((a) => !a.includes(':')), ...ips.filter((a) => a.includes(':'))];
}

function versionLess(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}
