// Stats, CRI metrics and tracing through the built daemon: the metric descriptors the kubelet reads
// at start, and a CRI call's trace exported to a local OTLP/HTTP receiver (a plain HTTP server here)
// with its trace id in the call's log line. Container and pod stats need the container and sandbox
// services: their e2e tests land with them (see README, CRI coverage).
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code: number; message?: string };
}

let receiver: Server;
let endpoint = '';
const spans: OtlpSpan[] = [];
let daemon: Daemon;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  daemon = t.track(new Daemon(t.dir(), 'stats', { config: { tracing: { endpoint } } }));
  await daemon.start();
});

afterAll(async () => {
  await daemon?.stop();
  await new Promise((r) => receiver.close(r));
});

describe('CRI metrics', () => {
  it('ListMetricDescriptors answers the cAdvisor names with their label keys', async () => {
    const res = await call(daemon.client.runtime, 'ListMetricDescriptors', {});
    const byName = new Map(res.descriptors.map((d) => [d.name, d]));
    for (const name of [
      'container_cpu_usage_seconds_total',
      'container_memory_working_set_bytes',
      'container_memory_rss',
      'container_network_receive_bytes_total',
      'container_fs_usage_bytes',
      'container_oom_events_total',
    ]) {
      expect(byName.get(name), name).toBeDefined();
      expect(byName.get(name)!.help).not.toBe('');
    }
    expect(byName.get('container_memory_working_set_bytes')!.label_keys).toEqual(['container', 'id', 'image', 'name', 'namespace', 'pod']);
    expect(byName.get('container_cpu_usage_seconds_total')!.label_keys.at(-1)).toBe('cpu');
    expect(byName.get('container_network_receive_bytes_total')!.label_keys.at(-1)).toBe('interface');
    expect(byName.size).toBe(res.descriptors.length);
  });
});

describe('tracing', () => {
  it('exports a span per CRI call, joined to the caller trace, with the trace id in the call log line', async () => {
    const parentTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${parentTrace}-00f067aa0ba902b7-01`);
    await new Promise<void>((resolve, reject) =>
      daemon.client.runtime.Version({ version: '0.1.0' }, md, (err) => (err ? reject(err) : resolve())),
    );
    await call(daemon.client.runtime, 'Status', {});
    const version = await waitFor('the Version span at the receiver', () => spans.find((s) => s.name === 'CRI Version'));
    const status = await waitFor('the Status span at the receiver', () => spans.find((s) => s.name === 'CRI Status'));
    expect(version.traceId).toBe(parentTrace);
    expect(version.parentSpanId).toBe('00f067aa0ba902b7');
    expect(version.kind).toBe(2);
    expect(version.status.code).toBe(1);
    expect(status.parentSpanId).toBeUndefined();
    expect(status.traceId).not.toBe(parentTrace);
    const line = daemon.logs().find((l) => l.msg === 'cri call' && l.method === 'Version');
    expect(line?.traceId).toBe(parentTrace);
    expect(line?.spanId).toBe(version.spanId);
  });

  it('a refused call is exported as a failed span', async () => {
    const bad = { runtime_config: { network_config: { pod_cidr: 'not-a-cidr' } } };
    await expect(call(daemon.client.runtime, 'UpdateRuntimeConfig', bad)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const span = await waitFor('the failed span', () => spans.find((s) => s.name === 'CRI UpdateRuntimeConfig'));
    expect(span.status.code).toBe(2);
    expect(span.status.message).toContain('not-a-cidr');
    const line = daemon.logs().find((l) => l.msg === 'cri call failed' && l.method === 'UpdateRuntimeConfig');
    expect(line?.traceId).toBe(span.traceId);
  });
});
