// The few Kubernetes API calls the agent makes: read and merge-patch Nodes; read, create, replace,
// list and delete RuntimeClasses. Errors are KubeApiError (HTTP status in `code`);
// apiErrorMessage turns any failure into one readable line.
import { KubeApiError, KubeClient, inClusterConnection, kubeconfigConnection } from './kube-client.js';
import type { MetaPatch, NodeMeta } from './node-labels.js';

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
}

export interface RuntimeClass {
  apiVersion: 'node.k8s.io/v1';
  kind: 'RuntimeClass';
  metadata: ObjectMeta;
  handler: string;
  scheduling?: { nodeSelector?: Record<string, string>; tolerations?: unknown[] };
}

interface NodeObject {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

const RUNTIME_CLASSES = '/apis/node.k8s.io/v1/runtimeclasses';

export class KubeApi {
  constructor(private readonly client: KubeClient) {}

  /** From a kubeconfig file, or the pod's service account when `kubeconfig` is empty. */
  static connect(kubeconfig: string): KubeApi {
    return new KubeApi(new KubeClient(kubeconfig !== '' ? kubeconfigConnection(kubeconfig) : inClusterConnection()));
  }

  close(): void {
    this.client.close();
  }

  /** The connection itself, for callers that watch (peer discovery). */
  get connection(): KubeClient {
    return this.client;
  }

  async readNodeMeta(name: string): Promise<NodeMeta> {
    const n = await this.client.request<NodeObject>('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
    return { labels: { ...(n.metadata?.labels ?? {}) }, annotations: { ...(n.metadata?.annotations ?? {}) } };
  }

  /** Every Node's name, labels and annotations. */
  async listNodeMeta(): Promise<(NodeMeta & { name: string })[]> {
    const list = await this.client.request<{ items?: NodeObject[] }>('GET', '/api/v1/nodes');
    return (list.items ?? []).map((n) => ({ name: n.metadata?.name ?? '', labels: { ...(n.metadata?.labels ?? {}) }, annotations: { ...(n.metadata?.annotations ?? {}) } }));
  }

  async patchNodeMeta(name: string, patch: MetaPatch): Promise<void> {
    await this.client.request('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, { body: { metadata: patch }, contentType: 'application/merge-patch+json' });
  }

  async readRuntimeClass(name: string): Promise<RuntimeClass | undefined> {
    try {
      return await this.client.request<RuntimeClass>('GET', `${RUNTIME_CLASSES}/${encodeURIComponent(name)}`);
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw err;
    }
  }

  async listRuntimeClasses(labelSelector: string): Promise<RuntimeClass[]> {
    const list = await this.client.request<{ items?: RuntimeClass[] }>('GET', `${RUNTIME_CLASSES}?labelSelector=${encodeURIComponent(labelSelector)}`);
    return list.items ?? [];
  }

  async createRuntimeClass(body: RuntimeClass): Promise<void> {
    await this.client.request('POST', RUNTIME_CLASSES, { body });
  }

  async replaceRuntimeClass(body: RuntimeClass): Promise<void> {
    await this.client.request('PUT', `${RUNTIME_CLASSES}/${encodeURIComponent(body.metadata.name)}`, { body });
  }

  /** Deletes the RuntimeClass; one already gone counts as deleted. */
  async deleteRuntimeClass(name: string): Promise<void> {
    try {
      await this.client.request('DELETE', `${RUNTIME_CLASSES}/${encodeURIComponent(name)}`);
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
    }
  }
}

export function httpStatus(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.code : undefined;
}

/** "HTTP 403: nodes "n1" is forbidden: ... (PATCH /api/v1/nodes/n1)" or the network error's message. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message !== err.message ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
