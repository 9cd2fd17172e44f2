// A stand-in for the Kubernetes API server, because none can run on this machine: a plain HTTP
// server implementing only the endpoints the node agent calls (read/merge-patch a Node;
// list Nodes; read/create/replace/list/delete RuntimeClasses) with the API's status codes and Status bodies, optimistic
// concurrency (resourceVersion) and handler immutability. Tests can make it fail on purpose.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';

type Obj = Record<string, unknown>;
export interface Meta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
}
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [key: string]: unknown;
}

export class KubeApiStandIn {
  readonly nodes = new Map<string, StoredObject>();
  readonly runtimeClasses = new Map<string, StoredObject>();
  readonly requests: string[] = [];
  private server: Server | undefined;
  private port = 0;
  private version = 1;
  private failures: { count: number; code: number } = { count: 0, code: 500 };
  readonly token = 'standin-token';

  /** `tls`: serve HTTPS with this certificate (as in-cluster clients require); `host`: listen address. */
  constructor(private readonly options: { tls?: { cert: string; key: string }; host?: string } = {}) {}

  addNode(name: string, labels: Record<string, string> = {}): void {
    this.nodes.set(name, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels, annotations: {}, resourceVersion: this.nextVersion(), uid: `uid-${name}` } });
  }

  /** The next `count` requests get `code` with a Status body (500, 503, 429...). */
  failNext(count: number, code = 500): void {
    this.failures = { count, code };
  }

  async start(port = this.port): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    this.server = this.options.tls ? createTlsServer(this.options.tls, handler) : createServer(handler);
    await new Promise<void>((resolve) => this.server!.listen(port, this.host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stop answering (connections refused) until start() again on the same port. */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  }

  /** Where it listens (127.0.0.1 unless told): a pod reaches the node on its bridge's address. */
  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://${this.host}:${this.port}`;
  }

  /** A kubeconfig pointing at this server with a bearer token. */
  writeKubeconfig(path: string): void {
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: standin\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true`,
        'users:',
        `- name: agent\n  user:\n    token: ${this.token}`,
        'contexts:',
        '- name: standin\n  context:\n    cluster: standin\n    user: agent',
        'current-context: standin',
        '',
      ].join('\n'),
    );
  }

  private nextVersion(): string {
    return String(this.version++);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    this.requests.push(`${req.method} ${path}`);
    const body = await readBody(req);
    const send = (code: number, obj: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const status = (code: number, reason: string, message: string): void =>
      send(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
    if (this.failures.count > 0) {
      this.failures.count--;
      return status(this.failures.code, 'InternalError', `stand-in failure injected (HTTP ${this.failures.code})`);
    }
    if (req.headers.authorization !== `Bearer ${this.token}`) return status(401, 'Unauthorized', 'Unauthorized');

    if (path === '/api/v1/nodes' && req.method === 'GET') return send(200, { kind: 'NodeList', apiVersion: 'v1', metadata: {}, items: [...this.nodes.values()] });
    if (path === '/apis/node.k8s.io/v1/runtimeclasses' && req.method === 'GET') {
      // Equality selectors only (k=v,k2=v2), what the agent's cleanup sends.
      const selector = new URL(req.url ?? '/', 'http://x').searchParams.get('labelSelector') ?? '';
      const wanted = selector.split(',').filter(Boolean).map((p) => p.split('=') as [string, string]);
      const items = [...this.runtimeClasses.values()].filter((rc) => wanted.every(([k, v]) => rc.metadata.labels?.[k] === v));
      return send(200, { kind: 'RuntimeClassList', apiVersion: 'node.k8s.io/v1', metadata: {}, items });
    }
    let m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const node = this.nodes.get(name);
      if (!node) return status(404, 'NotFound', `nodes "${name}" not found`);
      if (req.method === 'GET') return send(200, node);
      if (req.method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/merge-patch+json') return status(415, 'UnsupportedMediaType', `unsupported patch type ${req.headers['content-type']}`);
        const patched = mergePatch(node, JSON.parse(body) as Obj) as StoredObject;
        patched.metadata.resourceVersion = this.nextVersion();
        this.nodes.set(name, patched);
        return send(200, patched);
      }
      return status(405, 'MethodNotAllowed', `${req.method} not allowed`);
    }
    if (path === '/apis/node.k8s.io/v1/runtimeclasses' && req.method === 'POST') {
      const rc = JSON.parse(body) as StoredObject;
      const problem = invalidRuntimeClass(rc);
      if (problem) return status(422, 'Invalid', problem);
      if (this.runtimeClasses.has(rc.metadata.name)) return status(409, 'AlreadyExists', `runtimeclasses.node.k8s.io "${rc.metadata.name}" already exists`);
      rc.metadata = { ...rc.metadata, resourceVersion: this.nextVersion(), uid: `uid-rc-${rc.metadata.name}` };
      this.runtimeClasses.set(rc.metadata.name, rc);
      return send(201, rc);
    }
    m = /^\/apis\/node\.k8s\.io\/v1\/runtimeclasses\/([^/]+)$/.exec(path);
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const have = this.runtimeClasses.get(name);
      if (req.method === 'GET') return have ? send(200, have) : status(404, 'NotFound', `runtimeclasses.node.k8s.io "${name}" not found`);
      if (req.method === 'DELETE') {
        if (!have) return status(404, 'NotFound', `runtimeclasses.node.k8s.io "${name}" not found`);
        this.runtimeClasses.delete(name);
        return send(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
      }
      if (req.method === 'PUT') {
        if (!have) return status(404, 'NotFound', `runtimeclasses.node.k8s.io "${name}" not found`);
        const rc = JSON.parse(body) as StoredObject;
        const problem = invalidRuntimeClass(rc);
        if (problem) return status(422, 'Invalid', problem);
        if (rc.metadata.resourceVersion !== have.metadata.resourceVersion) return status(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
        if (rc.handler !== have.handler) return status(422, 'Invalid', 'handler: Invalid value: field is immutable');
        rc.metadata = { ...rc.metadata, resourceVersion: this.nextVersion(), uid: have.metadata.uid };
        this.runtimeClasses.set(name, rc);
        return send(200, rc);
      }
      return status(405, 'MethodNotAllowed', `${req.method} not allowed`);
    }
    return status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${path})`);
  }
}

function invalidRuntimeClass(rc: StoredObject): string | undefined {
  if (rc.apiVersion !== 'node.k8s.io/v1' || rc.kind !== 'RuntimeClass') return `wrong apiVersion/kind ${rc.apiVersion}/${rc.kind}`;
  if (!rc.metadata?.name) return 'metadata.name: Required value';
  if (typeof rc.handler !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(rc.handler)) return 'handler: Invalid value';
  return undefined;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Obj = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (b: Buffer) => (s += b.toString()));
    req.on('end', () => resolve(s));
  });
}
