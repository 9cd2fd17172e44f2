// The few Kubernetes API calls the agent makes, over @kubernetes/client-node: read and
// merge-patch its own Node; read, create and replace RuntimeClasses. Errors stay ApiException
// (HTTP status in `code`); apiErrorMessage turns any failure into one readable line.
import * as k8s from '@kubernetes/client-node';
import type { MetaPatch, NodeMeta } from './node-labels.js';

export class KubeApi {
  private readonly core: k8s.CoreV1Api;
  private readonly node: k8s.NodeV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.node = kc.makeApiClient(k8s.NodeV1Api);
  }

  /** From a kubeconfig file, or the pod's service account when `kubeconfig` is empty. */
  static connect(kubeconfig: string): KubeApi {
    const kc = new k8s.KubeConfig();
    if (kubeconfig !== '') kc.loadFromFile(kubeconfig);
    else kc.loadFromCluster();
    return new KubeApi(kc);
  }

  async readNodeMeta(name: string): Promise<NodeMeta> {
    const n = await this.core.readNode({ name });
    return { labels: { ...(n.metadata?.labels ?? {}) }, annotations: { ...(n.metadata?.annotations ?? {}) } };
  }

  async patchNodeMeta(name: string, patch: MetaPatch): Promise<void> {
    await this.core.patchNode({ name, body: { metadata: patch } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  }

  async readRuntimeClass(name: string): Promise<k8s.V1RuntimeClass | undefined> {
    try {
      return await this.node.readRuntimeClass({ name });
    } catch (err) {
      if (httpStatus(err) === 404) return undefined;
      throw err;
    }
  }

  async createRuntimeClass(body: k8s.V1RuntimeClass): Promise<void> {
    await this.node.createRuntimeClass({ body });
  }

  async replaceRuntimeClass(body: k8s.V1RuntimeClass): Promise<void> {
    await this.node.replaceRuntimeClass({ name: body.metadata?.name ?? '', body });
  }
}

export function httpStatus(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? (err.code as number) : undefined;
}

/** "HTTP 403: nodes "n1" is forbidden: ..." or the network error's message. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    let body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        // a plain-text body: use it as it is
      }
    }
    const message = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : String(body ?? '');
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message !== err.message ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
