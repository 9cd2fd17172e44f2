// The OTLP exporter when the collector misbehaves: spans are dropped (never queued without bound),
// the failure is logged once per 60 failed batches with the drop count, recovery is logged, and
// the queue bound and batch trigger hold. A local HTTP server plays the collector and is told how
// to answer.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from './log.js';
import { startTracing, stopTracing, withServerSpan, withSpan } from './tracing.js';

interface Line {
  level: number;
  msg: string;
  spansDropped?: number;
  error?: string;
  endpoint?: string;
}

let server: Server;
let endpoint = '';
let status = 200;
const batches: { name: string; attributes: { key: string; value: Record<string, unknown> }[]; status: { code: number } }[][] = [];
let resource: { key: string; value: unknown }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (status === 200) {
        const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: typeof resource }; scopeSpans: { spans: (typeof batches)[number] }[] }[] };
        resource = doc.resourceSpans[0]!.resource.attributes;
        batches.push(doc.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
      }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

afterEach(async () => {
  await stopTracing();
  status = 200;
  batches.length = 0;
});

function capture(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  return { log: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) }), lines };
}

describe('trace export failures', () => {
  it('a collector answering 500: the batch is dropped and logged with the count; recovery is logged once', async () => {
    const { log, lines } = capture();
    const tracer = startTracing({ endpoint: `${endpoint}///`, log, flushIntervalMs: 3_600_000 });
    status = 500;
    await withSpan('a', {}, async () => undefined);
    await withSpan('b', {}, async () => undefined);
    await tracer.flush();
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: 'trace export failed', endpoint: `${endpoint}/v1/traces`, error: 'collector answered HTTP 500', spansDropped: 2 })]);
    expect(batches).toEqual([]);

    status = 200;
    await withSpan('c', {}, async () => undefined);
    await tracer.flush();
    expect(lines[1]).toMatchObject({ level: 30, msg: 'trace export recovered', spansDropped: 2 });
    expect(batches.map((b) => b.map((s) => s.name))).toEqual([['c']]);
    // Healthy again: the next export logs nothing.
    await withSpan('d', {}, async () => undefined);
    await tracer.flush();
    expect(lines).toHaveLength(2);
  });

  it('a long outage warns on the first failed batch and then once every 60, not per batch', async () => {
    const { log, lines } = capture();
    const tracer = startTracing({ endpoint: 'http://127.0.0.1:1', log, flushIntervalMs: 3_600_000 });
    for (let i = 0; i < 61; i++) {
      withSpan(`s${i}`, {}, () => undefined);
      await tracer.flush();
    }
    const warns = lines.filter((l) => l.msg === 'trace export failed');
    expect(warns.map((w) => w.spansDropped)).toEqual([1, 61]);
    expect(warns[0]!.error).toMatch(/fetch failed|ECONNREFUSED/);
  });

  it('while the collector is slow, spans beyond maxQueue are dropped (counted), not kept', async () => {
    const { log, lines } = capture();
    const tracer = startTracing({ endpoint, log, flushIntervalMs: 3_600_000, maxQueue: 3 });
    for (const n of ['1', '2', '3', '4', '5']) withSpan(n, {}, () => undefined);
    await tracer.flush();
    expect(batches.map((b) => b.map((s) => s.name))).toEqual([['1', '2', '3']]);
    // The drops are reported when the exporter next succeeds.
    expect(lines).toEqual([expect.objectContaining({ msg: 'trace export recovered', spansDropped: 2 })]);
  });

  it('512 queued spans start an export without waiting for the interval', async () => {
    startTracing({ endpoint, log: pino({ level: 'silent' }), flushIntervalMs: 3_600_000 });
    for (let i = 0; i < 512; i++) withSpan(`bulk${i}`, {}, () => undefined);
    const deadline = Date.now() + 10_000;
    while (batches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(batches[0]).toHaveLength(512);
  });

  it('the interval exports on its own', async () => {
    startTracing({ endpoint, log: pino({ level: 'silent' }), flushIntervalMs: 20 });
    withSpan('timed', {}, () => undefined);
    const deadline = Date.now() + 10_000;
    while (batches.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(batches[0]?.map((s) => s.name)).toEqual(['timed']);
  });

  it('encodes attribute types (string, bool, int, double), drops undefined ones, names the service and version', async () => {
    const tracer = startTracing({ endpoint, log: pino({ level: 'silent' }), serviceName: 'nexcage-test', serviceVersion: '9.9.9', flushIntervalMs: 3_600_000 });
    withServerSpan('call', { s: 'x', b: false, i: 42, d: 0.5, u: undefined }, 'not-a-traceparent', () => undefined);
    await tracer.flush();
    const span = batches[0]![0]!;
    expect(span.attributes).toEqual([
      { key: 's', value: { stringValue: 'x' } },
      { key: 'b', value: { boolValue: false } },
      { key: 'i', value: { intValue: '42' } },
      { key: 'd', value: { doubleValue: 0.5 } },
    ]);
    expect(resource).toEqual([
      { key: 'service.name', value: { stringValue: 'nexcage-test' } },
      { key: 'service.version', value: { stringValue: '9.9.9' } },
    ]);
  });

  it('after stopTracing, spans are not recorded and functions run directly', async () => {
    const tracer = startTracing({ endpoint, log: pino({ level: 'silent' }), flushIntervalMs: 3_600_000 });
    await stopTracing();
    expect(withServerSpan('off', {}, undefined, () => 'direct')).toBe('direct');
    await tracer.flush();
    expect(batches).toEqual([]);
  });
});
