import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeCheckRequest, decodeCheckResponse, decodeListResponse, encodeCheckRequest, encodeCheckResponse, encodeListResponse, type ServingStatus } from './health.js';

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
