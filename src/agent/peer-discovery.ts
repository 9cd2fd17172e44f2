// Finds the other nexcage nodes for image sharing: the EndpointSlices of the headless Service in
// front of the DaemonSet's peer port, listed then watched (re-listed when the watch ends or its
// resourceVersion is too old). Ready endpoints on other nodes become HOST:PORT peers, written
// atomically to the file the daemon reads as peers.file (re-read when it changes).
import { atomicWriteJson } from '../lib/fsutil.js';
import type { Logger } from '../lib/log.js';
import { Backoff, sleep } from './backoff.js';
import { apiErrorMessage, httpStatus } from './kube-api.js';
import { KubeApiError, type KubeClient } from './kube-client.js';

export interface PeerDiscoveryOptions {
  namespace: string;
  service: string;
  /** The port's name in the slice; empty = the first port. */
  portName: string;
  nodeName: string;
  file: string;
  retryInitialMs: number;
  retryMaxMs: number;
}

interface EndpointSlice {
  metadata?: { name?: string; resourceVersion?: string };
  addressType?: string;
  ports?: { name?: string; port?: number }[] | null;
  endpoints?: { addresses?: string[]; nodeName?: string; conditions?: { ready?: boolean | null; terminating?: boolean | null } }[] | null;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: EndpointSlice & { code?: number };
}

/** HOST:PORT of every ready endpoint of the slice on another node. */
export function slicePeers(slice: EndpointSlice, portName: string, self: string): string[] {
  const port = (slice.ports ?? []).find((p) => portName === '' || p.name === portName)?.port;
  if (!port || slice.addressType === 'FQDN') return [];
  const out: string[] = [];
  for (const e of slice.endpoints ?? []) {
    if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
    if (self !== '' && e.nodeName === self) continue;
    for (const a of e.addresses ?? []) out.push(a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`);
  }
  return out;
}

export class PeerDiscovery {
  private readonly slices = new Map<string, EndpointSlice>();
  private written = '';
  private readonly backoff: Backoff;

  constructor(
    private readonly client: Pick<KubeClient, 'request' | 'stream'>,
    private readonly o: PeerDiscoveryOptions,
    private readonly log: Logger,
  ) {
    this.backoff = new Backoff(o.retryInitialMs, o.retryMaxMs);
  }

  private get base(): string {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${this.o.service}`);
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.o.namespace)}/endpointslices?labelSelector=${selector}`;
  }

  peers(): string[] {
    const all = [...this.slices.values()].flatMap((s) => slicePeers(s, this.o.portName, this.o.nodeName));
    return [...new Set(all)].sort();
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const rv = await this.list();
        this.backoff.reset();
        await this.watch(rv, signal);
      } catch (err) {
        if (signal.aborted) break;
        // 410 Gone: the watch's resourceVersion is too old; a fresh list starts over at once.
        if (httpStatus(err) === 410) continue;
        const delay = this.backoff.next();
        this.log.warn({ err: apiErrorMessage(err), retryInMs: delay }, 'peer discovery failed; retrying');
        await sleep(delay, signal);
      }
    }
  }

  private async list(): Promise<string> {
    const list = await this.client.request<{ metadata?: { resourceVersion?: string }; items?: EndpointSlice[] }>('GET', this.base);
    this.slices.clear();
    for (const s of list.items ?? []) if (s.metadata?.name) this.slices.set(s.metadata.name, s);
    await this.publish();
    return list.metadata?.resourceVersion ?? '';
  }

  private async watch(resourceVersion: string, signal: AbortSignal): Promise<void> {
    const res = await this.client.stream(`${this.base}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`, signal);
    let buf = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== '') await this.apply(JSON.parse(line) as WatchEvent);
      }
    }
  }

  private async apply(ev: WatchEvent): Promise<void> {
    if (ev.type === 'ERROR') {
      throw new KubeApiError(ev.object.code ?? 500, JSON.stringify(ev.object), 'watch of EndpointSlices');
    }
    const name = ev.object.metadata?.name;
    if (ev.type === 'BOOKMARK' || !name) return;
    if (ev.type === 'DELETED') this.slices.delete(name);
    else this.slices.set(name, ev.object);
    await this.publish();
  }

  /** Writes the peer file when the list changed. */
  private async publish(): Promise<void> {
    const peers = this.peers();
    const key = JSON.stringify(peers);
    if (key === this.written) return;
    await atomicWriteJson(this.o.file, { peers });
    this.written = key;
    this.log.info({ peers: peers.length, file: this.o.file }, 'peer list updated');
  }
}
