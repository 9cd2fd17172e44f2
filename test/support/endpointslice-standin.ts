// A stand-in for the API server's EndpointSlice endpoints (discovery.k8s.io/v1): list by
// kubernetes.io/service-name label, and watch (newline-delimited events from a resourceVersion),
// with bearer-token auth. Tests add, change and delete slices, and can cut every open watch or
// answer the next watch with 410 Gone (a resourceVersion too old) to make clients list again.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Slice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports: { name?: string; port: number; protocol?: string }[];
  endpoints: { addresses: string[]; nodeName?: string; conditions?: { ready?: boolean; terminating?: boolean } }[];
}

export class EndpointSliceStandIn {
  readonly slices = new Map<string, Slice>();
  readonly requests: string[] = [];
  readonly token = 'standin-token';
  private readonly events: { rv: number; type: string; object: Slice }[] = [];
  private readonly watchers = new Set<{ ns: string; service: string; res: ServerResponse }>();
  private version = 1;
  private goneNext = false;
  private server!: Server;
  private port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.cutWatches();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  put(slice: Omit<Slice, 'apiVersion' | 'kind'>): void {
    const type = this.slices.has(slice.metadata.name) ? 'MODIFIED' : 'ADDED';
    const rv = this.version++;
    const s: Slice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', ...slice, metadata: { ...slice.metadata, resourceVersion: String(rv) } };
    this.slices.set(s.metadata.name, s);
    this.emit(rv, type, s);
  }

  remove(name: string): void {
    const s = this.slices.get(name);
    if (!s) return;
    this.slices.delete(name);
    const rv = this.version++;
    this.emit(rv, 'DELETED', { ...s, metadata: { ...s.metadata, resourceVersion: String(rv) } });
  }

  /** Ends every open watch (as an API server restart or a watch timeout does). */
  cutWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** The next watch gets an ERROR event with 410 Gone. */
  expireNextWatch(): void {
    this.goneNext = true;
  }

  private emit(rv: number, type: string, object: Slice): void {
    this.events.push({ rv, type, object });
    for (const w of this.watchers) if (matches(object, w.ns, w.service)) w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.searchParams.get('watch') ? ' watch' : ''}`);
    const send = (code: number, obj: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, { kind: 'Status', code: 401, message: 'Unauthorized' });
    const m = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(url.pathname);
    if (!m || req.method !== 'GET') return send(404, { kind: 'Status', code: 404, message: 'not found' });
    const ns = decodeURIComponent(m[1] as string);
    const service = /^kubernetes\.io\/service-name=(.+)$/.exec(url.searchParams.get('labelSelector') ?? '')?.[1] ?? '';
    if (!url.searchParams.get('watch')) {
      const items = [...this.slices.values()].filter((s) => matches(s, ns, service));
      return send(200, { kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.version - 1) }, items });
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (this.goneNext) {
      this.goneNext = false;
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n');
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    for (const e of this.events) if (e.rv > from && matches(e.object, ns, service)) res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
    const w = { ns, service, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}

function matches(s: Slice, ns: string, service: string): boolean {
  return s.metadata.namespace === ns && s.metadata.labels['kubernetes.io/service-name'] === service;
}
