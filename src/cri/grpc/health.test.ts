import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type * as Protobuf from 'protobufjs';
import { describe, expect, it, vi } from 'vitest';
import { GrpcServer } from '../../lib/grpc/server.js';
import { decodeCheckRequest, decodeCheckResponse, decodeListResponse, encodeCheckRequest, encodeCheckResponse, encodeListResponse, HEALTH_SERVICE, HealthService, type ServingStatus } from './health.js';

// The reference encoding: health.proto as grpc-health-check ships it, through protobufjs.
const require = createRequire(import.meta.url);
const pb = createRequire(require.resolve('@grpc/proto-loader'))('protobufjs') as typeof Protobuf;
const root = pb.loadSync(join(dirname(require.resolve('grpc-health-check/package.json')), 'proto/health/v1/health.proto'));
const Req = root.lookupType('grpc.health.v1.HealthCheckRequest');
const Res = root.lookupType('grpc.health.v1.HealthCheckResponse');
const List = root.lookupType('grpc.health.v1.HealthListResponse');
const toObject = { enums: String, defaults: true };

describe('grpc.health.v1 messages coded by hand', () => {
  it.each(['', 'runtime.v1.RuntimeService', 'ünïcode/service'])('HealthCheckRequest %j matches protobufjs both ways', (service) => {
    expect(decodeCheckRequest(Buffer.from(Req.encode(Req.fromObject({ service })).finish()))).toEqual({ service });
    expect(Req.toObject(Req.decode(encodeCheckRequest({ service })), toObject)).toEqual({ service });
  });

  it.each<ServingStatus>(['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'])('HealthCheckResponse %s matches protobufjs both ways', (status) => {
    expect(Res.toObject(Res.decode(encodeCheckResponse({ status })), toObject)).toEqual({ status });
    expect(decodeCheckResponse(Buffer.from(Res.encode(Res.fromObject({ status })).finish()))).toEqual({ status });
  });

  it('HealthListResponse (a map) matches protobufjs both ways', () => {
    const statuses = { '': { status: 'SERVING' as const }, 'runtime.v1.ImageService': { status: 'NOT_SERVING' as const } };
    expect(List.toObject(List.decode(encodeListResponse({ statuses })), { ...toObject, objects: true })).toEqual({ statuses });
    expect(decodeListResponse(Buffer.from(List.encode(List.fromObject({ statuses })).finish()))).toEqual({ statuses });
  });

  it('skips fields it does not know and refuses truncated input', () => {
    // field 2 (varint 7), field 3 (fixed64), then field 1 = "x"
    const bytes = Buffer.from([0x10, 0x07, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x01, 0x78]);
    expect(decodeCheckRequest(bytes)).toEqual({ service: 'x' });
    expect(() => decodeCheckRequest(Buffer.from([0x0a, 0x05, 0x78]))).toThrow(/truncated/);
  });
});

describe('grpc.health.v1 served by HealthService on the daemon\'s gRPC server, to a grpc-js client', () => {
  async function serve(initial: Record<string, ServingStatus>) {
    const health = new HealthService(initial);
    const server = new GrpcServer({ maxMessageBytes: 1024 * 1024 });
    health.addToServer(server);
    const dir = mkdtempSync(join(tmpdir(), 'nexcage-health-'));
    await server.listen(join(dir, 's.sock'));
    const Client = grpc.makeGenericClientConstructor(HEALTH_SERVICE as unknown as grpc.ServiceDefinition, 'Health');
    const client = new Client(`unix://${join(dir, 's.sock')}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
    const unary = <T>(name: string, req: unknown): Promise<T> =>
      new Promise((resolve, reject) => (client[name] as (r: unknown, cb: (e: grpc.ServiceError | null, v: T) => void) => void).call(client, req, (e, v) => (e ? reject(e) : resolve(v))));
    const close = async (): Promise<void> => {
      client.close();
      await server.shutdown(0);
      rmSync(dir, { recursive: true, force: true });
    };
    return { health, client, unary, close };
  }

  it('Check answers a known service and NOT_FOUND naming an unknown one; List lists them, RESOURCE_EXHAUSTED past 100', async () => {
    const s = await serve({ '': 'SERVING', 'runtime.v1.RuntimeService': 'NOT_SERVING' });
    try {
      expect(await s.unary('Check', { service: '' })).toEqual({ status: 'SERVING' });
      expect(await s.unary('Check', { service: 'runtime.v1.RuntimeService' })).toEqual({ status: 'NOT_SERVING' });
      await expect(s.unary('Check', { service: 'nope' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: 'Health status unknown for service nope' });
      expect(await s.unary('List', {})).toEqual({ statuses: { '': { status: 'SERVING' }, 'runtime.v1.RuntimeService': { status: 'NOT_SERVING' } } });
      for (let i = 0; i < 100; i++) s.health.setStatus(`svc${i}`, 'SERVING');
      await expect(s.unary('List', {})).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    } finally {
      await s.close();
    }
  });

  it('Watch sends the current status (SERVICE_UNKNOWN for an unknown name), then each change until the client cancels', async () => {
    const s = await serve({ '': 'SERVING' });
    try {
      const seen: string[] = [];
      const call = (s.client.Watch as (r: unknown) => grpc.ClientReadableStream<{ status: string }>).call(s.client, { service: 'later' });
      call.on('error', () => undefined);
      call.on('data', (m: { status: string }) => seen.push(m.status));
      await vi.waitFor(() => expect(seen).toEqual(['SERVICE_UNKNOWN']), { timeout: 5_000, interval: 5 });
      s.health.setStatus('later', 'SERVING');
      s.health.setStatus('later', 'NOT_SERVING');
      await vi.waitFor(() => expect(seen).toEqual(['SERVICE_UNKNOWN', 'SERVING', 'NOT_SERVING']), { timeout: 5_000, interval: 5 });
      call.cancel();
      // A second watcher of the same name still hears changes once the first is gone.
      const again: string[] = [];
      const second = (s.client.Watch as (r: unknown) => grpc.ClientReadableStream<{ status: string }>).call(s.client, { service: 'later' });
      second.on('error', () => undefined);
      second.on('data', (m: { status: string }) => again.push(m.status));
      await vi.waitFor(() => expect(again).toEqual(['NOT_SERVING']), { timeout: 5_000, interval: 5 });
      s.health.setStatus('later', 'SERVING');
      await vi.waitFor(() => expect(again).toEqual(['NOT_SERVING', 'SERVING']), { timeout: 5_000, interval: 5 });
      expect(seen).toEqual(['SERVICE_UNKNOWN', 'SERVING', 'NOT_SERVING']);
      second.cancel();
    } finally {
      await s.close();
    }
  });

  it('skips fixed32 fields, refuses unsupported wire types, cut varints and a list entry of the wrong wire type', () => {
    // field 2 (fixed32), then field 1 = "y"
    expect(decodeCheckRequest(Buffer.from([0x15, 1, 2, 3, 4, 0x0a, 0x01, 0x79]))).toEqual({ service: 'y' });
    expect(() => decodeCheckRequest(Buffer.from([0x0b]))).toThrow(/unsupported wire type 3/);
    expect(() => decodeCheckRequest(Buffer.from([0x08, 0x80]))).toThrow(/truncated varint/);
    expect(() => decodeListResponse(Buffer.from([0x08, 0x01]))).toThrow(/unexpected wire type/);
    // An unknown status number reads as UNKNOWN; a list entry of another field number is skipped.
    expect(decodeCheckResponse(Buffer.from([0x08, 0x09]))).toEqual({ status: 'UNKNOWN' });
    expect(decodeListResponse(Buffer.from([0x12, 0x00]))).toEqual({ statuses: {} });
  });
});
