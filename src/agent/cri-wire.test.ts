// The agent's hand-written CRI wire format against the reference encoding: cri-api's api.proto
// through protobufjs (what the daemon speaks). Requests the agent writes must decode to what it
// meant; responses the daemon writes, with fields the agent does not know (of every wire type),
// must decode to what they say; broken bytes are refused rather than misread.
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { criProtoPath } from '../cri/grpc/proto.js';
import {
  decodeImageStatusPresent,
  decodePullImageResponse,
  decodeStatusResponse,
  decodeVersionResponse,
  encodeImageStatusRequest,
  encodePullImageRequest,
  encodeStatusRequest,
  encodeVersionRequest,
} from './cri-wire.js';

const require = createRequire(import.meta.url);
const pb = createRequire(require.resolve('@grpc/proto-loader'))('protobufjs') as typeof Protobuf;
let root: Protobuf.Root;
const type = (name: string): Protobuf.Type => root.lookupType(`runtime.v1.${name}`);
const encode = (name: string, obj: object): Buffer => Buffer.from(type(name).encode(type(name).fromObject(obj)).finish());
const decode = (name: string, b: Buffer): Record<string, unknown> => type(name).toObject(type(name).decode(b), { defaults: true, longs: String, enums: String }) as Record<string, unknown>;

beforeAll(async () => {
  // Field names as written in api.proto (snake_case), as the daemon loads it.
  root = await new pb.Root().load(criProtoPath(), { keepCase: true });
});

describe('requests the agent writes', () => {
  it('decode with the reference schema to what the agent meant', () => {
    expect(decode('VersionRequest', encodeVersionRequest('v1'))).toMatchObject({ version: 'v1' });
    expect(decode('VersionRequest', encodeVersionRequest(''))).toMatchObject({ version: '' });
    expect(decode('StatusRequest', encodeStatusRequest(true))).toMatchObject({ verbose: true });
    expect(decode('StatusRequest', encodeStatusRequest(false))).toMatchObject({ verbose: false });
    const long = `registry.example:5000/${'team/'.repeat(40)}app:v1`; // over 127 bytes: a two-byte length
    expect((decode('ImageStatusRequest', encodeImageStatusRequest(long)).image as { image: string }).image).toBe(long);
    expect((decode('PullImageRequest', encodePullImageRequest('docker.io/library/busybox:latest')).image as { image: string }).image).toBe('docker.io/library/busybox:latest');
    // An empty spec is still sent: its presence is what the daemon checks.
    expect(decode('PullImageRequest', encodePullImageRequest('')).image).toBeTruthy();
  });
});

describe('responses the daemon writes', () => {
  it('Version, with non-ASCII text', () => {
    const b = encode('VersionResponse', { version: '0.1.0', runtime_name: 'nexcage', runtime_version: '1.2.3-ünïcode', runtime_api_version: 'v1' });
    expect(decodeVersionResponse(b)).toEqual({ version: '0.1.0', runtimeName: 'nexcage', runtimeVersion: '1.2.3-ünïcode', runtimeApiVersion: 'v1' });
    expect(decodeVersionResponse(Buffer.alloc(0))).toEqual({ version: '', runtimeName: '', runtimeVersion: '', runtimeApiVersion: '' });
  });

  it('Status: conditions, handlers (the default one named ""), and the verbose info map it skips', () => {
    const b = encode('StatusResponse', {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'no CNI config' },
        ],
      },
      info: { config: '{"big": "json"}' },
      runtime_handlers: [{ name: '', features: { recursive_read_only_mounts: true, user_namespaces: true } }, { name: 'runc' }],
      features: { supplemental_groups_policy: true },
    });
    expect(decodeStatusResponse(b)).toEqual({
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'no CNI config' },
      ],
      handlers: ['', 'runc'],
    });
  });

  it('ImageStatus: present or not; PullImage: the image ref', () => {
    const present = encode('ImageStatusResponse', { image: { id: 'sha256:abc', size: '1234', uid: { value: '1000' }, pinned: true }, info: { k: 'v' } });
    expect(decodeImageStatusPresent(present)).toBe(true);
    expect(decodeImageStatusPresent(encode('ImageStatusResponse', { info: { k: 'v' } }))).toBe(false);
    expect(decodeImageStatusPresent(Buffer.alloc(0))).toBe(false);
    expect(decodePullImageResponse(encode('PullImageResponse', { image_ref: 'sha256:0123' }))).toBe('sha256:0123');
    expect(decodePullImageResponse(Buffer.alloc(0))).toBe('');
  });

  it('skips unknown fields of every wire type (a newer daemon)', () => {
    const unknown = Buffer.concat([
      Buffer.from([0x50, 0xac, 0x02]), // field 10, varint 300
      Buffer.from([0x59, 1, 2, 3, 4, 5, 6, 7, 8]), // field 11, fixed64
      Buffer.from([0x65, 1, 2, 3, 4]), // field 12, fixed32
      Buffer.from([0x6a, 0x03, 0x61, 0x62, 0x63]), // field 13, bytes "abc"
    ]);
    const known = encode('VersionResponse', { version: '0.1.0', runtime_name: 'nexcage', runtime_version: '1', runtime_api_version: 'v1' });
    expect(decodeVersionResponse(Buffer.concat([unknown, known, unknown]))).toEqual({ version: '0.1.0', runtimeName: 'nexcage', runtimeVersion: '1', runtimeApiVersion: 'v1' });
    expect(decodePullImageResponse(Buffer.concat([unknown, encode('PullImageResponse', { image_ref: 'sha256:1' })]))).toBe('sha256:1');
  });

  it('refuses truncated messages and unknown wire types instead of misreading them', () => {
    const full = encode('VersionResponse', { version: '0.1.0', runtime_name: 'nexcage' });
    expect(() => decodeVersionResponse(full.subarray(0, full.length - 2))).toThrow('truncated protobuf message');
    expect(() => decodeVersionResponse(Buffer.from([0x08, 0x80]))).toThrow('truncated protobuf message');
    expect(() => decodeVersionResponse(Buffer.from([0x0b]))).toThrow('unsupported protobuf wire type 3');
    expect(() => decodeStatusResponse(Buffer.from([0x0a, 0x05, 0x0a, 0x09]))).toThrow('truncated protobuf message');
  });
});
