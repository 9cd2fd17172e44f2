// One RuntimeClass per configured handler. Each selects nodes labelled
// `handler.nexcage.io/<handler>=true` (node-labels.ts), so pods asking for it only land on nodes
// whose daemon has that handler. Objects the agent did not create are left alone.
import type { Logger } from '../lib/log.js';
import type { KubeApi, RuntimeClass } from './kube-api.js';
import { HANDLER_LABEL_PREFIX } from './node-labels.js';
import type { RuntimeClassSpec } from './options.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'nexcage-agent';

export function desiredRuntimeClass(spec: RuntimeClassSpec): RuntimeClass {
  return {
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name: spec.name, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
    handler: spec.handler,
    scheduling: { nodeSelector: { [HANDLER_LABEL_PREFIX + spec.handler]: 'true' } },
  };
}

export type RuntimeClassOutcome = 'created' | 'updated' | 'unchanged' | 'foreign' | 'conflict';

/** Create the RuntimeClass, or bring ours up to date. Throws on API errors (the caller retries). */
export async function ensureRuntimeClass(api: KubeApi, spec: RuntimeClassSpec, log: Logger): Promise<RuntimeClassOutcome> {
  const want = desiredRuntimeClass(spec);
  const have = await api.readRuntimeClass(spec.name);
  if (!have) {
    await api.createRuntimeClass(want);
    log.info({ runtimeClass: spec.name, handler: spec.handler }, 'RuntimeClass created');
    return 'created';
  }
  if (have.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) {
    log.warn({ runtimeClass: spec.name }, `RuntimeClass exists and is not managed by ${MANAGED_BY}; leaving it alone`);
    return 'foreign';
  }
  if (have.handler !== spec.handler) {
    // handler is immutable in the API: replacing would fail, deleting could break running pods.
    log.error({ runtimeClass: spec.name, has: have.handler, wants: spec.handler }, 'RuntimeClass has another handler (immutable); delete it to let the agent recreate it');
    return 'conflict';
  }
  if (JSON.stringify(have.scheduling ?? {}) === JSON.stringify(want.scheduling)) return 'unchanged';
  await api.replaceRuntimeClass({ ...want, metadata: { ...want.metadata, ...(have.metadata.resourceVersion ? { resourceVersion: have.metadata.resourceVersion } : {}) } });
  log.info({ runtimeClass: spec.name, handler: spec.handler }, 'RuntimeClass updated');
  return 'updated';
}
