// The wrapper around every CRI handler: one log line per call (debug; warn/error on failure),
// request metrics, and the error -> status mapping. Handlers just return or throw; each gets an
// AbortSignal that fires when its caller goes away (cancel, deadline passed, disconnect).
import type { ServerCall } from '../../lib/grpc/server.js';
import { Status, StatusError, statusName, type StatusCode } from '../../lib/grpc/status.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { grpcDuration, grpcRequests } from '../../lib/metrics.js';
import type { Activity } from '../../lib/page-reclaim.js';
import { setCurrentSpanError, tracingEnabled, withServerSpan, type SpanAttributes } from '../../lib/tracing.js';
import { capDetails, toServiceError } from './status-map.js';

/** One RPC as the gRPC server runs it (lib/grpc/server.ts MethodHandler without the codec). */
export interface Rpc {
  responseStream: boolean;
  handle(request: unknown, call: ServerCall, send: (message: unknown) => void): Promise<unknown>;
}

export type RpcHandlers = Record<string, Rpc>;

export interface HandlerContext {
  log: Logger;
  /** Told when a call that does work starts and ends (the kubelet's recurring reads are not work). */
  activity?: Activity;
}

/**
 * What the kubelet sends over and over on every node (PLEG relists, status and stats polls,
 * exec probes, the events stream it keeps open): reads that change nothing. Everything else
 * (pods, containers, images, streams) is work.
 */
const RECURRING = new Set([
  'Version', 'Status', 'RuntimeConfig', 'ListPodSandbox', 'PodSandboxStatus', 'ListContainers', 'ContainerStatus',
  'ListContainerStats', 'ContainerStats', 'PodSandboxStats', 'ListPodSandboxStats', 'ListMetricDescriptors',
  'ListPodSandboxMetrics', 'ListImages', 'ImageStatus', 'ImageFsInfo', 'ExecSync', 'GetContainerEvents',
  'StreamPodSandboxes', 'StreamContainers', 'StreamContainerStats', 'StreamPodSandboxStats', 'StreamPodSandboxMetrics', 'StreamImages',
]);

/** Marks the call as work (if it is) and returns what to call when it ends. */
function workStarted(ctx: HandlerContext, method: string): () => void {
  const a = ctx.activity;
  if (!a || RECURRING.has(method)) return noop;
  a.begin();
  return () => a.end();
}

function noop(): void {}

/** Longest id put in a log line or span: a hostile 10 MB id must not become a 10 MB log line. */
const MAX_LOGGED_ID = 256;

function loggedId(v: string): string {
  return v.length <= MAX_LOGGED_ID ? v : `${v.slice(0, MAX_LOGGED_ID)}... (${v.length} characters)`;
}

/** Ids worth a log field, picked from whatever request shape came in. */
function requestIds(req: unknown): Record<string, string> {
  const ids: Record<string, string> = {};
  if (typeof req !== 'object' || req === null) return ids;
  const r = req as Record<string, unknown>;
  for (const key of ['pod_sandbox_id', 'container_id'] as const) {
    if (typeof r[key] === 'string' && r[key] !== '') ids[key] = loggedId(r[key]);
  }
  const image = r.image as { image?: unknown } | undefined;
  if (image && typeof image.image === 'string' && image.image !== '') ids.image = loggedId(image.image);
  return ids;
}

function finish(ctx: HandlerContext, method: string, req: unknown, started: bigint, code: StatusCode, err?: unknown): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const name = statusName(code);
  grpcRequests.inc({ method, code: name });
  grpcDuration.observe({ method }, seconds);
  // The kubelet's polls succeed many times a second: no log fields built for a line not written.
  if (err === undefined && !ctx.log.isLevelEnabled('debug')) return;
  const fields = { method, code: name, durationMs: Math.round(seconds * 1e6) / 1e3, ...requestIds(req) };
  if (err === undefined) ctx.log.debug(fields, 'cri call');
  else if (code === Status.CANCELLED) ctx.log.info({ ...fields, error: capDetails((err as Error).message) }, 'cri call cancelled by its caller');
  else if (code === Status.INTERNAL || code === Status.UNKNOWN) ctx.log.error({ ...fields, err }, 'cri call failed');
  else if (code === Status.UNIMPLEMENTED || code === Status.NOT_FOUND) ctx.log.debug({ ...fields, error: capDetails((err as Error).message) }, 'cri call refused');
  else ctx.log.warn({ ...fields, error: capDetails((err as Error).message) }, 'cri call failed');
}

/** The call as a server span (child of the caller's W3C traceparent, if sent); only while tracing is on. */
function traced<T>(method: string, req: unknown, call: ServerCall, body: () => Promise<T>): Promise<T> {
  const attrs: SpanAttributes = { 'rpc.system': 'grpc', 'rpc.method': method, ...requestIds(req) };
  return withServerSpan(`CRI ${method}`, attrs, call.metadata('traceparent'), body);
}

/**
 * The status of a failed call. A caller that went away (reset, deadline passed) already has its
 * answer from the server: this is CANCELLED, for the log and the metrics, as in the answered case.
 */
function failure(call: ServerCall, err: unknown): StatusError {
  if (call.signal.aborted) return new StatusError(Status.CANCELLED, capDetails(errorMessage(err)));
  const se = toServiceError(err);
  return new StatusError(se.code, se.details);
}

type Run = (req: unknown, call: ServerCall, send: (message: unknown) => void) => unknown;

/** The wrapper's work around one call of either kind: activity, span, log line, metrics, status. */
function wrapped(ctx: HandlerContext, method: string, responseStream: boolean, run: Run): Rpc {
  return {
    responseStream,
    handle: (req, call, send) => (tracingEnabled() ? traced(method, req, call, () => answered(ctx, method, run, req, call, send)) : answered(ctx, method, run, req, call, send)),
  };
}

/** One call, start to end (one async function: the kubelet's polls make no promise chain of closures each). */
async function answered(ctx: HandlerContext, method: string, run: Run, req: unknown, call: ServerCall, send: (message: unknown) => void): Promise<unknown> {
  const started = process.hrtime.bigint();
  const workEnded = workStarted(ctx, method);
  let res: unknown;
  try {
    res = await run(req, call, send);
  } catch (err) {
    workEnded();
    const se = failure(call, err);
    setCurrentSpanError(se.details);
    finish(ctx, method, req, started, se.code, err);
    throw se;
  }
  workEnded();
  if (call.signal.aborted) finish(ctx, method, req, started, Status.CANCELLED, new Error('the caller went away before the answer'));
  else finish(ctx, method, req, started, Status.OK);
  return res;
}

export function unary<Req, Res>(ctx: HandlerContext, method: string, impl: (req: Req, cancelled: AbortSignal) => Promise<Res> | Res): Rpc {
  return wrapped(ctx, method, false, (req, call) => impl(req as Req, call.signal));
}

/** A server-streaming call: `impl` writes messages and resolves when the stream is complete. */
export function serverStream<Req, Res>(
  ctx: HandlerContext,
  method: string,
  impl: (req: Req, send: (res: Res) => void, cancelled: AbortSignal) => Promise<void>,
): Rpc {
  return wrapped(ctx, method, true, (req, call, send) => impl(req as Req, send, call.signal));
}

/** What an RPC without a handler answers: UNIMPLEMENTED naming it, never a fake OK. */
export function unimplemented(ctx: HandlerContext, service: string, method: string, streaming: boolean): Rpc {
  const details = `${service}/${method} is not implemented by nexcage yet`;
  return {
    responseStream: streaming,
    handle: (request) => {
      finish(ctx, method, request, process.hrtime.bigint(), Status.UNIMPLEMENTED, new Error(details));
      return Promise.reject(new StatusError(Status.UNIMPLEMENTED, details));
    },
  };
}
