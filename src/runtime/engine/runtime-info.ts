// Answers about the runtime itself: version, readiness conditions, handlers, cgroup driver and
// the pod CIDR the kubelet hands down. Cheap enough for the kubelet's once-a-second Status poll.
import { statSync } from 'node:fs';
import { InvalidArgumentError } from '../../lib/errors.js';
import { CRI_VERSION, nexcageVersion, RUNTIME_API_VERSION, RUNTIME_NAME } from '../../lib/version.js';
import type { CgroupDriver } from './cgroup-driver.js';
import type { HandlerFeatures, RuntimeHandlers } from './runtime-handlers.js';
import { NetworkReadinessCache, type NetworkReadiness } from '../network/network-readiness.js';
import type { CheckpointSupport } from './criu.js';
import { HUGETLB_MISSING, probeHugetlb } from '../oci-spec/host-facts.js';

export interface VersionInfo {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface Condition {
  type: 'RuntimeReady' | 'NetworkReady';
  status: boolean;
  reason: string;
  message: string;
}

export interface HandlerInfo {
  name: string;
  features: HandlerFeatures;
}

export interface RuntimeStatus {
  conditions: Condition[];
  handlers: HandlerInfo[];
  /** Only when asked for verbose output: key -> JSON text. */
  info: Record<string, string>;
}

export interface RuntimeInfoOptions {
  handlers: RuntimeHandlers;
  cgroupDriver: CgroupDriver;
  cniConfDirs: readonly string[];
  cniBinDirs: readonly string[];
  /** Whether the built-in network stands in when no CNI config exists (default true). */
  cniDefaultNetwork?: boolean;
  /** The effective config, shown by verbose Status. */
  effectiveConfig: unknown;
  /** Whether the hugetlb cgroup controller is usable; default: probed on this node. */
  hugetlb?: () => Promise<boolean>;
  /** Whether containers can be checkpointed here, and why not (verbose info.checkpoint). */
  checkpointSupport?: () => Promise<CheckpointSupport>;
}

export class RuntimeInfo {
  private podCidr = '';
  private hugetlb: Promise<boolean> | undefined;
  private readonly network: NetworkReadinessCache;
  private runtimeBinary: { binary: string | undefined; key: string } | undefined;
  private lastStatus: { binary: string | undefined; network: NetworkReadiness; status: RuntimeStatus } | undefined;

  constructor(private readonly opts: RuntimeInfoOptions) {
    this.network = new NetworkReadinessCache(opts.cniConfDirs, opts.cniBinDirs, { defaultNetwork: opts.cniDefaultNetwork ?? true });
  }

  version(): VersionInfo {
    return { version: CRI_VERSION, runtimeName: RUNTIME_NAME, runtimeVersion: nexcageVersion(), runtimeApiVersion: RUNTIME_API_VERSION };
  }

  /**
   * The non-verbose answer is the same object while the runtime binary and the network answer are:
   * the kubelet polls it every few seconds. Handlers and their features are settled before serving.
   */
  async status(verbose: boolean): Promise<RuntimeStatus> {
    const handlers = this.opts.handlers;
    const def = handlers.get('');
    const binary = await this.defaultRuntimeBinary();
    const net = await this.network.check();
    const last = this.lastStatus;
    if (!verbose && last !== undefined && last.binary === binary && last.network === net) return last.status;
    const runtime: Condition = binary
      ? { type: 'RuntimeReady', status: true, reason: '', message: '' }
      : {
          type: 'RuntimeReady',
          status: false,
          reason: 'RuntimeBinaryNotFound',
          message: `default runtime handler "${def.name}": binary "${def.path}" not found or not executable`,
        };
    const network: Condition = { type: 'NetworkReady', status: net.ready, reason: net.reason, message: net.message };
    // The default handler is listed twice, as containerd does: by its name and as "" (no RuntimeClass).
    const list: HandlerInfo[] = [{ name: '', features: def.features }, ...handlers.list().map((h) => ({ name: h.name, features: h.features }))];
    if (verbose) return { conditions: [runtime, network], handlers: list, info: await this.verboseInfo() };
    const status: RuntimeStatus = { conditions: [runtime, network], handlers: list, info: {} };
    this.lastStatus = { binary, network: net, status };
    return status;
  }

  /**
   * The default handler's binary, looked up again (a $PATH walk and an access() through the thread
   * pool) only when a stat of the one found last says it changed or went.
   */
  private async defaultRuntimeBinary(): Promise<string | undefined> {
    const last = this.runtimeBinary;
    if (last?.binary !== undefined && statKey(last.binary) === last.key) return last.binary;
    const binary = await this.opts.handlers.available('');
    this.runtimeBinary = { binary, key: binary === undefined ? '' : statKey(binary) };
    return binary;
  }

  private async verboseInfo(): Promise<Record<string, string>> {
    // Controllers are mounted at boot: probed once, on the first verbose Status.
    this.hugetlb ??= (this.opts.hugetlb ?? probeHugetlb)();
    const hugetlb = await this.hugetlb;
    const checkpoint = await this.opts.checkpointSupport?.();
    // Why a handler does or does not offer user namespaces (the kubelet only sees the boolean).
    const userns = Object.fromEntries(
      this.opts.handlers.list().map((h) => [h.name, h.features.userNamespaces ? { supported: true } : { supported: false, reason: h.usernsUnsupported ?? 'unknown' }]),
    );
    return {
      config: JSON.stringify(this.opts.effectiveConfig),
      ...(checkpoint ? { checkpoint: JSON.stringify(checkpoint) } : {}),
      userNamespaces: JSON.stringify(userns),
      runtimeConfig: JSON.stringify({ podCIDR: this.podCidr, cgroupDriver: this.opts.cgroupDriver }),
      hugetlb: JSON.stringify(hugetlb ? { controller: true, hugepageLimits: 'applied' } : { controller: false, hugepageLimits: 'dropped', message: HUGETLB_MISSING }),
    };
  }

  cgroupDriver(): CgroupDriver {
    return this.opts.cgroupDriver;
  }

  /** The kubelet sends the node's pod CIDR(s), comma separated; empty clears it. */
  updatePodCidr(cidr: string): void {
    for (const part of cidr.split(',').filter((p) => p.trim() !== '')) {
      if (!isCidr(part.trim())) throw new InvalidArgumentError(`pod CIDR "${part}" is not a valid CIDR`);
    }
    this.podCidr = cidr;
  }

  podCidrValue(): string {
    return this.podCidr;
  }
}

/** What changes when a binary is replaced, removed or made non-executable; '' when it is gone. */
function statKey(path: string): string {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.mtimeMs}:${st.mode}` : '';
}

function isCidr(s: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (v4) return v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32;
  const v6 = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(s);
  return v6 !== null && (v6[1] as string).includes(':') && Number(v6[2]) <= 128;
}
