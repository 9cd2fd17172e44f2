// Tracing against a local OTLP/HTTP receiver (a plain HTTP server in the test): spans of a call and
// its steps arrive with the right tree, failures are marked, external commands get spans, and with
// tracing off nothing is recorded.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from './exec.js';
import { silentLogger } from './log.js';
import { parseTraceparent, startTracing, stopTracing, traceLogFields, tracingEnabled, withServerSpan, withSpan, type Tracer } from './tracing.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code: number; message?: string };
}

let server: Server;
let endpoint: string;
const received: OtlpSpan[] = [];
const requests: { path: string; contentType: string | undefined; service: unknown }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: { key: string; value: unknown }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of doc.resourceSpans) {
        requests.push({ path: req.url ?? '', contentType: req.headers['content-type'], service: rs.resource.attributes.find((a) => a.key === 'service.name')?.value });
        for (const ss of rs.scopeSpans) received.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await stopTracing();
  await new Promise((r) => server.close(r));
});

afterEach(async () => {
  await stopTracing();
  received.length = 0;
  requests.length = 0;
});

const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

describe('tracing', () => {
  it('off: functions run as they are, no ids in logs, nothing exported', async () => {
    expect(tracingEnabled()).toBe(false);
    const v = withSpan('x', {}, () => 42);
    expect(v).toBe(42);
    const fields = await withSpan('y', {}, async () => traceLogFields());
    expect(fields).toEqual({});
  });

  it('exports a CRI call with its steps as one tree, and commands run inside get their own spans', async () => {
    const tracer: Tracer = startTracing({ endpoint, log: silentLogger(), serviceVersion: '0.1.0' });
    let logFields: { traceId?: string; spanId?: string } = {};
    const result = await withServerSpan('runtime.v1.RuntimeService/RunPodSandbox', { 'rpc.method': 'RunPodSandbox' }, undefined, async () => {
      logFields = traceLogFields();
      await withSpan('cni.add', { 'pod.id': 'p1' }, async (span) => {
        span.setAttribute('cni.network', 'nexcage');
        await run('true', []);
      });
      await withSpan('runc.create', { 'container.id': 'c1' }, () => run('true', []));
      return 'ok';
    });
    expect(result).toBe('ok');
    await tracer.flush();

    expect(requests[0]?.path).toBe('/v1/traces');
    expect(requests[0]?.contentType).toBe('application/json');
    expect(requests[0]?.service).toEqual({ stringValue: 'nexcage' });
    const byName = new Map(received.map((s) => [s.name, s]));
    const root = byName.get('runtime.v1.RuntimeService/RunPodSandbox')!;
    const cni = byName.get('cni.add')!;
    const runc = byName.get('runc.create')!;
    const execs = received.filter((s) => s.name === 'exec true');
    expect(root.parentSpanId).toBeUndefined();
    expect(root.kind).toBe(2);
    expect(root.status.code).toBe(1);
    expect(cni.parentSpanId).toBe(root.spanId);
    expect(runc.parentSpanId).toBe(root.spanId);
    expect(execs.map((e) => e.parentSpanId).sort()).toEqual([cni.spanId, runc.spanId].sort());
    expect(new Set(received.map((s) => s.traceId))).toEqual(new Set([root.traceId]));
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(attr(cni, 'cni.network')).toBe('nexcage');
    expect(attr(execs[0]!, 'process.command')).toBe('true');
    expect(BigInt(root.startTimeUnixNano)).toBeLessThanOrEqual(BigInt(cni.startTimeUnixNano));
    expect(BigInt(root.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(runc.endTimeUnixNano));
    // wall-clock epoch nanoseconds
    expect(Number(BigInt(root.startTimeUnixNano) / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000);
    // the log lines of the call carry its trace
    expect(logFields).toEqual({ traceId: root.traceId, spanId: root.spanId });
  });

  it('marks failures, keeps the error, and joins the caller trace from a W3C traceparent', async () => {
    const tracer = startTracing({ endpoint, log: silentLogger() });
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await expect(
      withServerSpan('runtime.v1.RuntimeService/StartContainer', {}, parent, async () => {
        await withSpan('runc.start', {}, async () => {
          throw new Error('runc start: exit code 1');
        });
      }),
    ).rejects.toThrow('exit code 1');
    expect(() => withSpan('sync', {}, () => {
      throw new Error('boom');
    })).toThrow('boom');
    await tracer.flush();
    const root = received.find((s) => s.name.endsWith('StartContainer'))!;
    expect(root.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(root.parentSpanId).toBe('b7ad6b7169203331');
    expect(root.status).toEqual({ code: 2, message: 'runc start: exit code 1' });
    expect(received.find((s) => s.name === 'runc.start')?.status.code).toBe(2);
    expect(received.find((s) => s.name === 'sync')?.status).toEqual({ code: 2, message: 'boom' });
  });

  it('a collector that is down costs nothing but dropped spans', async () => {
    const tracer = startTracing({ endpoint: 'http://127.0.0.1:1', log: silentLogger() });
    await withSpan('lost', {}, async () => 1);
    await expect(tracer.flush()).resolves.toBeUndefined();
  });

  it('parses traceparent strictly', () => {
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
    expect(parseTraceparent(undefined)).toBeUndefined();
  });
});

describe('trace ids in log lines', () => {
  // The daemon's logger (log.ts) uses traceLogFields as its pino mixin; the e2e test checks that
  // wiring on the built daemon. Here: the mixin under pino itself, including pino's merge rules.
  it('lines written inside a span carry its ids, lines outside do not, and fields never leak between lines', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const log = pino({ level: 'info', mixin: traceLogFields }, sink);
    const tracer = startTracing({ endpoint, log: silentLogger() });
    log.info({ a: 1 }, 'outside');
    await withSpan('inside', {}, async () => log.info({ b: 2 }, 'inside'));
    log.info({ c: 3 }, 'after');
    await tracer.flush();
    expect(lines[0]).not.toHaveProperty('traceId');
    expect(lines[1]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(lines[1]?.b).toBe(2);
    expect(lines[2]).not.toHaveProperty('traceId');
    expect(lines[2]).not.toHaveProperty('b');
  });
});
