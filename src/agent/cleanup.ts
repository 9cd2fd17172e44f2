// `nexcage agent cleanup`: what `helm uninstall` runs (a post-delete hook Job) once the agents are
// gone: deletes the RuntimeClasses the agents created (by their managed-by label) and removes the
// agents' labels and annotations from every Node. The operator's own node label that selects
// nexcage nodes (nexcage.io/runtime, set by the kubelet) is left alone.
import type { Logger } from '../lib/log.js';
import { apiErrorMessage, type KubeApi } from './kube-api.js';
import { AGENT_ANNOTATIONS, AGENT_LABELS, HANDLER_LABEL_PREFIX, type MetaPatch } from './node-labels.js';
import { MANAGED_BY, MANAGED_BY_LABEL } from './runtime-classes.js';

export interface CleanupResult {
  runtimeClasses: string[];
  nodes: string[];
  errors: string[];
}

export async function cleanupCluster(kube: KubeApi, log: Logger): Promise<CleanupResult> {
  const result: CleanupResult = { runtimeClasses: [], nodes: [], errors: [] };
  try {
    for (const rc of await kube.listRuntimeClasses(`${MANAGED_BY_LABEL}=${MANAGED_BY}`)) {
      try {
        await kube.deleteRuntimeClass(rc.metadata.name);
        result.runtimeClasses.push(rc.metadata.name);
        log.info({ runtimeClass: rc.metadata.name }, 'RuntimeClass deleted');
      } catch (err) {
        result.errors.push(`deleting RuntimeClass ${rc.metadata.name}: ${apiErrorMessage(err)}`);
      }
    }
  } catch (err) {
    result.errors.push(`listing RuntimeClasses: ${apiErrorMessage(err)}`);
  }
  try {
    for (const node of await kube.listNodeMeta()) {
      const patch = agentMetaRemoval(node);
      if (!patch) continue;
      try {
        await kube.patchNodeMeta(node.name, patch);
        result.nodes.push(node.name);
        log.info({ node: node.name, patch }, 'agent labels removed from the Node');
      } catch (err) {
        result.errors.push(`patching Node ${node.name}: ${apiErrorMessage(err)}`);
      }
    }
  } catch (err) {
    result.errors.push(`listing Nodes: ${apiErrorMessage(err)}`);
  }
  for (const e of result.errors) log.error({ err: e }, 'cleanup step failed');
  return result;
}

/** The merge patch removing every label and annotation the agent writes; undefined when none is there. */
export function agentMetaRemoval(node: { labels: Record<string, string>; annotations: Record<string, string> }): MetaPatch | undefined {
  const labels: Record<string, null> = {};
  const annotations: Record<string, null> = {};
  for (const k of Object.keys(node.labels)) if ((AGENT_LABELS as readonly string[]).includes(k) || k.startsWith(HANDLER_LABEL_PREFIX)) labels[k] = null;
  for (const k of Object.keys(node.annotations)) if ((AGENT_ANNOTATIONS as readonly string[]).includes(k)) annotations[k] = null;
  const patch: MetaPatch = {};
  if (Object.keys(labels).length > 0) patch.labels = labels;
  if (Object.keys(annotations).length > 0) patch.annotations = annotations;
  return patch.labels || patch.annotations ? patch : undefined;
}
