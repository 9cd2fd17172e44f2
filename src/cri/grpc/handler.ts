// The wrapper around every CRI handler: one log line per call (debug; warn/error on failure),
// request metrics, and the error -> status mapping. Handlers just return or throw; each gets an
// AbortSignal that fires when its caller goes away (cancel, deadline passed, disconnect).
import {
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerUnaryCall,
  type ServerWritableStream,
  type Metadata,
  type UntypedHandleCall,
} from '@grpc/grpc-js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { grpcDuration, grpcRequests } from '../../lib/metrics.js';
import { setCurrentSpanError, tracingEnabled, withServerSpan, type SpanAttributes } from '../../lib/tracing.js';
import { capDetails, toServiceError } from './status-map.js';

export interface HandlerContext {
  log: Logger;
  /** Told when a call that does work starts and ends (the kubelet's recurring reads are not work). */
  activity?: { begin(): void; end(): void };
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

function finish(ctx: HandlerContext, method: string, req: unknown, started: bigint, code: status, err?: unknown): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  grpcRequests.inc({ method, code: status[code] });
  grpcDuration.observe({ method }, seconds);
  const fields = { method, code: status[code], durationMs: Math.round(seconds * 1e6) / 1e3, ...requestIds(req) };
  if (err === undefined) ctx.log.debug(fields, 'cri call');
  else if (code === status.CANCELLED) ctx.log.info({ ...fields, error: capDetails((err as Error).message) }, 'cri call cancelled by its caller');
  else if (code === status.INTERNAL || code === status.UNKNOWN) ctx.log.error({ ...fields, err }, 'cri call failed');
  else if (code === status.UNIMPLEMENTED || code === status.NOT_FOUND) ctx.log.debug({ ...fields, error: capDetails((err as Error).message) }, 'cri call refused');
  else ctx.log.warn({ ...fields, error: capDetails((err as Error).message) }, 'cri call failed');
}

/** The call as a server span (child of the caller's W3C traceparent, if sent); free when tracing is off. */
function traced(method: string, req: unknown, metadata: Metadata, body: () => Promise<void>): Promise<void> {
  if (!tracingEnabled()) return body();
  const attrs: SpanAttributes = { 'rpc.system': 'grpc', 'rpc.method': method, ...requestIds(req) };
  const parent = metadata.get('traceparent')[0];
  return withServerSpan(`CRI ${method}`, attrs, typeof parent === 'string' ? parent : undefined, body);
}

export function unary<Req, Res>(ctx: HandlerContext, method: string, impl: (req: Req, cancelled: AbortSignal) => Promise<Res> | Res): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const started = process.hrtime.bigint();
    const workEnded = workStarted(ctx, method);
    const abort = new AbortController();
    const onCancelled = (): void => abort.abort();
    // grpc-js also emits 'cancelled' after every status it sends: only one before the answer counts.
    // Detached at the answer also because Node keeps each HTTP/2 stream's native handle alive
    // through young-generation GCs until a full one: whatever the call still references (this
    // listener, the controller) gets promoted with it and makes full GCs come sooner.
    call.on('cancelled', onCancelled);
    const answered = (): void => {
      call.removeListener('cancelled', onCancelled);
      workEnded();
    };
    void traced(method, call.request, call.metadata, () =>
      Promise.resolve()
        .then(() => impl(call.request, abort.signal))
        .then(
          (res) => {
            answered();
            if (abort.signal.aborted) finish(ctx, method, call.request, started, status.CANCELLED, new Error('the caller went away before the answer'));
            else finish(ctx, method, call.request, started, status.OK);
            callback(null, res);
          },
          (err: unknown) => {
            answered();
            // The caller is gone: what the handler threw (often the cancel itself) reaches nobody.
            const se = abort.signal.aborted ? { code: status.CANCELLED, details: capDetails(errorMessage(err)) } : toServiceError(err);
            setCurrentSpanError(se.details);
            finish(ctx, method, call.request, started, se.code, err);
            callback(se);
          },
        ),
    );
  };
}

/** A server-streaming call: `impl` writes messages and resolves when the stream is complete. */
export function serverStream<Req, Res>(
  ctx: HandlerContext,
  method: string,
  impl: (req: Req, send: (res: Res) => void, cancelled: AbortSignal) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const started = process.hrtime.bigint();
    const workEnded = workStarted(ctx, method);
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    void traced(method, call.request, call.metadata, () =>
      Promise.resolve()
        .then(() => impl(call.request, (res) => call.write(res), abort.signal))
        .then(
          () => {
            workEnded();
            finish(ctx, method, call.request, started, status.OK);
            call.end();
          },
          (err: unknown) => {
            workEnded();
            const se = toServiceError(err);
            setCurrentSpanError(se.details);
            finish(ctx, method, call.request, started, se.code, err);
            call.emit('error', se);
          },
        ),
    );
  };
}

/** What an RPC without a handler answers: UNIMPLEMENTED naming it, never a fake OK. */
export function unimplemented(ctx: HandlerContext, service: string, method: string, streaming: boolean): UntypedHandleCall {
  const details = `${service}/${method} is not implemented by nexcage yet`;
  const refuse = (req: unknown): ServiceErrorLike => {
    finish(ctx, method, req, process.hrtime.bigint(), status.UNIMPLEMENTED, new Error(details));
    return { code: status.UNIMPLEMENTED, details };
  };
  if (streaming) {
    const h: handleServerStreamingCall<unknown, unknown> = (call) => {
      call.emit('error', refuse(call.request));
    };
    return h;
  }
  const h: handleUnaryCall<unknown, unknown> = (call, callback) => callback(refuse(call.request));
  return h;
}

interface ServiceErrorLike {
  code: status;
  details: string;
}
