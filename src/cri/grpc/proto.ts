// Loads cri-api/runtime/v1/api.proto at run time with the same options the TypeScript types
// were generated with (package.json "gen"), so values on the wire match the generated types.
//
// The services are built from protobufjs directly, the way @grpc/proto-loader builds them (same
// parse, decode/toObject with these options; encoding is ours) but without the descriptor
// objects proto-loader also makes for every message type (for reflection, which nothing here
// uses): 1.5 MB less heap in a daemon that holds this for its whole life.
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Protobuf from 'protobufjs';
import { messageEncoder } from '../../lib/grpc/proto-encoder.js';
import { packageRoot } from '../../lib/version.js';
import type { ProtoGrpcType } from '../generated/api.js';

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** How decoded messages are turned into plain objects (LOADER_OPTIONS without the parse option). */
const TO_OBJECT: Protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

export const SERVICES = ['runtime.v1.RuntimeService', 'runtime.v1.ImageService'] as const;

export function criProtoPath(): string {
  return join(packageRoot(), 'cri-api', 'runtime', 'v1', 'api.proto');
}

/** protobufjs as @grpc/proto-loader resolves it (its dependency, so always the version it was tested with). */
function protobufjs(): typeof Protobuf {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve('@grpc/proto-loader'))('protobufjs') as typeof Protobuf;
}

function methodDefinition(service: string, m: Protobuf.Method): grpc.MethodDefinition<object, object> {
  const req = m.resolvedRequestType as Protobuf.Type;
  const res = m.resolvedResponseType as Protobuf.Type;
  const deserializer = (t: Protobuf.Type) => (bytes: Buffer) => t.toObject(t.decode(bytes), TO_OBJECT);
  return {
    path: `/${service}/${m.name}`,
    requestStream: !!m.requestStream,
    responseStream: !!m.responseStream,
    // Our encoder, not protobufjs': see lib/grpc/proto-encoder.ts.
    requestSerialize: messageEncoder(req),
    requestDeserialize: deserializer(req),
    responseSerialize: messageEncoder(res),
    responseDeserialize: deserializer(res),
    originalName: m.name.charAt(0).toLowerCase() + m.name.slice(1),
  };
}

export type CriServiceName = (typeof SERVICES)[number];
export type CriMethod = grpc.MethodDefinition<object, object>;

let services: Record<CriServiceName, Record<string, CriMethod>> | undefined;

/** Every method of the two CRI services with its codec (protobufjs only: the daemon's server needs no grpc-js). */
export function criServices(): Record<CriServiceName, Record<string, CriMethod>> {
  if (services) return services;
  const pb = protobufjs();
  const root = new pb.Root();
  root.loadSync(criProtoPath(), { keepCase: true });
  root.resolveAll();
  const out = {} as Record<CriServiceName, Record<string, CriMethod>>;
  for (const name of SERVICES) {
    const service = root.lookupService(name);
    out[name] = Object.fromEntries(service.methodsArray.map((m) => [m.name, methodDefinition(name, m)]));
  }
  services = out;
  return out;
}

export function criMethod(service: CriServiceName, method: string): CriMethod {
  const m = criServices()[service][method];
  if (!m) throw new Error(`${service} has no method ${method}`);
  return m;
}

let cached: ProtoGrpcType | undefined;
/** grpc-js client (and test server) definitions; grpc-js is loaded only by those who call this. */
export function loadCri(): ProtoGrpcType {
  if (cached) return cached;
  const grpcJs = createRequire(import.meta.url)('@grpc/grpc-js') as typeof grpc;
  cached = grpcJs.loadPackageDefinition(criServices() as unknown as protoLoader.PackageDefinition) as unknown as ProtoGrpcType;
  return cached;
}

/** Max message size both ways: what the kubelet uses (16 MiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
