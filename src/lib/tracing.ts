// OpenTelemetry tracing, kept tiny: spans with parent/child links carried by AsyncLocalStorage,
// exported in batches as OTLP/HTTP JSON (POST <endpoint>/v1/traces) when an endpoint is configured.
// Off by default, and then free: withSpan() calls its function directly, nothing is allocated.
//
// Why our own and not @opentelemetry/sdk-trace-node: the daemon needs one span shape, one
// exporter and W3C traceparent; the SDK would add ~10 packages, its own context manager and
// resource detection for that. OTLP's JSON encoding is a stable, documented wire format.
//
// Domain code marks its steps:  await withSpan('cni.add', { 'pod.id': id }, () => cni.add(...))
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

export interface Span {
  setAttribute(key: string, value: string | number | boolean): void;
  /** Mark the span failed (a thrown error does this by itself). */
  setError(message: string): void;
}

interface SpanRecord extends Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  startNs: bigint;
  endNs?: bigint;
  attributes: Map<string, string | number | boolean>;
  error?: string;
}

/** OTLP span kinds: INTERNAL for steps, SERVER for an incoming CRI call. */
export const SpanKind = { Internal: 1, Server: 2 } as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

const NOOP_SPAN: Span = { setAttribute: () => undefined, setError: () => undefined };
const storage = new AsyncLocalStorage<SpanRecord>();
let tracer: Tracer | undefined;

/** Run `fn` inside a span named `name` (a child of the current span, if any). */
export function withSpan<T>(name: string, attrs: SpanAttributes, fn: (span: Span) => T, kind: SpanKind = SpanKind.Internal): T {
  const t = tracer;
  if (!t) return fn(NOOP_SPAN);
  const parent = storage.getStore();
  return runSpan(t, t.open(name, attrs, kind, parent ? { traceId: parent.traceId, spanId: parent.spanId } : undefined), fn);
}

/**
 * The root span of an incoming call. `traceparent` (W3C, e.g. from the kubelet's gRPC metadata)
 * makes it a child of the caller's span so the two traces join.
 */
export function withServerSpan<T>(name: string, attrs: SpanAttributes, traceparent: string | undefined, fn: (span: Span) => T): T {
  const t = tracer;
  if (!t) return fn(NOOP_SPAN);
  return runSpan(t, t.open(name, attrs, SpanKind.Server, parseTraceparent(traceparent)), fn);
}

function runSpan<T>(t: Tracer, span: SpanRecord, fn: (span: Span) => T): T {
  let result: T;
  try {
    result = storage.run(span, fn, span);
  } catch (err) {
    span.setError(errorMessage(err));
    t.close(span);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (v: unknown) => {
        t.close(span);
        return v;
      },
      (err: unknown) => {
        span.setError(errorMessage(err));
        t.close(span);
        throw err;
      },
    ) as T;
  }
  t.close(span);
  return result;
}

/** Mark the current span failed (for failures reported without a throw, e.g. a gRPC status). */
export function setCurrentSpanError(message: string): void {
  storage.getStore()?.setError(message);
}

/**
 * Log fields of the current span: pino's mixin puts them on every line written inside a call.
 * Always a fresh object: pino merges the line's own fields into what the mixin returns.
 */
export function traceLogFields(): { traceId?: string; spanId?: string } {
  if (!tracer) return {};
  const s = storage.getStore();
  return s ? { traceId: s.traceId, spanId: s.spanId } : {};
}

export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

export function parseTraceparent(header: string | undefined): { traceId: string; spanId: string } | undefined {
  if (!header) return undefined;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header.trim().toLowerCase());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2] as string) || /^0+$/.test(m[3] as string)) return undefined;
  return { traceId: m[2] as string, spanId: m[3] as string };
}

export interface TracingOptions {
  /** OTLP/HTTP base URL, e.g. http://127.0.0.1:4318. */
  endpoint: string;
  serviceName?: string;
  serviceVersion?: string;
  log: Logger;
  /** Export at least this often (ms). */
  flushIntervalMs?: number;
  /** Spans kept while the collector is slow or down; beyond this, new spans are dropped. */
  maxQueue?: number;
}

/** Turn tracing on for the process. Returns the tracer (shutdown() flushes what is queued). */
export function startTracing(options: TracingOptions): Tracer {
  tracer = new Tracer(options);
  return tracer;
}

/** Flush and turn tracing off. */
export async function stopTracing(): Promise<void> {
  const t = tracer;
  tracer = undefined;
  await t?.shutdown();
}

export class Tracer {
  private queue: SpanRecord[] = [];
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  private dropped = 0;
  private failures = 0;
  private readonly url: string;
  /** Wall clock at hrtime 0, so span times are epoch ns with hrtime's resolution. */
  private readonly epochOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  constructor(private readonly o: TracingOptions) {
    this.url = o.endpoint.replace(/\/+$/, '') + '/v1/traces';
    this.timer = setInterval(() => void this.flush(), o.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  open(name: string, attrs: SpanAttributes, kind: SpanKind, parent: { traceId: string; spanId: string } | undefined): SpanRecord {
    const attributes = new Map<string, string | number | boolean>();
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) attributes.set(k, v);
    const span: SpanRecord = {
      traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      ...(parent ? { parentSpanId: parent.spanId } : {}),
      name,
      kind,
      startNs: this.now(),
      attributes,
      setAttribute(key, value) {
        attributes.set(key, value);
      },
      setError(message) {
        span.error = message;
      },
    };
    return span;
  }

  close(span: SpanRecord): void {
    if (span.endNs !== undefined) return;
    span.endNs = this.now();
    if (this.queue.length >= (this.o.maxQueue ?? 4096)) {
      this.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= 512) void this.flush();
  }

  /** Send everything queued; one request at a time. */
  flush(): Promise<void> {
    this.sending = this.sending.then(() => this.sendBatch());
    return this.sending;
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private now(): bigint {
    return this.epochOffset + process.hrtime.bigint();
  }

  private async sendBatch(): Promise<void> {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(this.encode(batch)),
        signal: AbortSignal.timeout(5000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`collector answered HTTP ${res.status}`);
      if (this.failures > 0 || this.dropped > 0) this.o.log.info({ spansDropped: this.dropped }, 'trace export recovered');
      this.failures = 0;
      this.dropped = 0;
    } catch (err) {
      // A collector outage must not grow memory or spam the log: drop the batch, warn now and then.
      this.dropped += batch.length;
      if (this.failures++ % 60 === 0) this.o.log.warn({ endpoint: this.url, error: errorMessage(err), spansDropped: this.dropped }, 'trace export failed');
    }
  }

  private encode(batch: SpanRecord[]): unknown {
    const attr = (key: string, v: string | number | boolean) => ({
      key,
      value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
    });
    return {
      resourceSpans: [
        {
          resource: {
            attributes: [attr('service.name', this.o.serviceName ?? 'nexcage'), ...(this.o.serviceVersion ? [attr('service.version', this.o.serviceVersion)] : [])],
          },
          scopeSpans: [
            {
              scope: { name: 'nexcage' },
              spans: batch.map((s) => ({
                traceId: s.traceId,
                spanId: s.spanId,
                ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
                name: s.name,
                kind: s.kind,
                startTimeUnixNano: s.startNs.toString(),
                endTimeUnixNano: (s.endNs ?? s.startNs).toString(),
                attributes: [...s.attributes].map(([k, v]) => attr(k, v)),
                status: s.error === undefined ? { code: 1 } : { code: 2, message: s.error },
              })),
            },
          ],
        },
      ],
    };
  }
}
