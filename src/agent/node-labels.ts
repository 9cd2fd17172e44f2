// What the agent writes on its Node: labels for scheduling (version, readiness, one label per
// runtime handler that RuntimeClasses select on) and annotations for people (handler list, the
// reason the runtime is not ready). Pure functions: facts in, merge patch out.

export const LABEL_VERSION = 'nexcage.io/version';
export const LABEL_READY = 'nexcage.io/ready';
/** `handler.nexcage.io/<handler>: "true"` on nodes whose daemon has that handler. */
export const HANDLER_LABEL_PREFIX = 'handler.nexcage.io/';
export const ANNOTATION_HANDLERS = 'nexcage.io/handlers';
export const ANNOTATION_API_VERSION = 'nexcage.io/runtime-api-version';
export const ANNOTATION_NOT_READY_REASON = 'nexcage.io/not-ready-reason';
/** Everything the agent writes (besides handler labels): what `nexcage agent cleanup` removes. */
export const AGENT_LABELS = [LABEL_VERSION, LABEL_READY] as const;
export const AGENT_ANNOTATIONS = [ANNOTATION_HANDLERS, ANNOTATION_API_VERSION, ANNOTATION_NOT_READY_REASON] as const;
/**
 * The label operators give nexcage nodes (kubelet --node-labels) for the chart's nodeSelector.
 * The agent never writes or removes it.
 */
export const LABEL_RUNTIME = 'nexcage.io/runtime';

/** What the agent learnt from the daemon over the CRI socket. */
export interface DaemonFacts {
  reachable: boolean;
  version: string;
  apiVersion: string;
  /** CRI Status RuntimeReady. */
  ready: boolean;
  reason: string;
  /** Named handlers from CRI Status runtime_handlers (the default "" left out). */
  handlers: string[];
}

export interface NodeMeta {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A JSON merge patch of metadata: null removes a key. */
export interface MetaPatch {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}

/** Label values: at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric. */
export function labelValue(v: string): string {
  return v
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

export function desiredNodeMeta(facts: DaemonFacts): MetaPatch {
  if (!facts.reachable) {
    // Daemon down: say so, but keep the version and handler labels we cannot check.
    return {
      labels: { [LABEL_READY]: 'false' },
      annotations: { [ANNOTATION_NOT_READY_REASON]: truncate(`daemon unreachable: ${facts.reason}`) },
    };
  }
  const labels: Record<string, string> = {
    [LABEL_VERSION]: labelValue(facts.version),
    [LABEL_READY]: facts.ready ? 'true' : 'false',
  };
  for (const h of facts.handlers) labels[HANDLER_LABEL_PREFIX + h] = 'true';
  return {
    labels,
    annotations: {
      [ANNOTATION_HANDLERS]: facts.handlers.join(','),
      [ANNOTATION_API_VERSION]: facts.apiVersion,
      [ANNOTATION_NOT_READY_REASON]: facts.ready ? null : truncate(facts.reason),
    } as Record<string, string | null>,
  } as MetaPatch;
}

/** The merge patch that brings `current` to `desired` (stale handler labels removed); undefined when nothing differs. */
export function nodePatch(current: NodeMeta, desired: MetaPatch, facts: DaemonFacts): MetaPatch | undefined {
  const labels: Record<string, string | null> = {};
  const annotations: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(desired.labels ?? {})) if ((current.labels[k] ?? null) !== v) labels[k] = v;
  for (const [k, v] of Object.entries(desired.annotations ?? {})) if ((current.annotations[k] ?? null) !== v) annotations[k] = v;
  if (facts.reachable) {
    for (const k of Object.keys(current.labels)) {
      if (k.startsWith(HANDLER_LABEL_PREFIX) && !(k in (desired.labels ?? {}))) labels[k] = null;
    }
  }
  const patch: MetaPatch = {};
  if (Object.keys(labels).length > 0) patch.labels = labels;
  if (Object.keys(annotations).length > 0) patch.annotations = annotations;
  return patch.labels || patch.annotations ? patch : undefined;
}

function truncate(s: string): string {
  return s.length > 1024 ? `${s.slice(0, 1021)}...` : s;
}
