// Loads cri-api/runtime/v1/api.proto at run time with the same options the TypeScript types
// were generated with (package.json "gen"), so values on the wire match the generated types.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { packageRoot } from '../../lib/version.js';
import type { ProtoGrpcType } from '../generated/api.js';

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export function criProtoPath(): string {
  return join(packageRoot(), 'cri-api', 'runtime', 'v1', 'api.proto');
}

let cached: ProtoGrpcType | undefined;
export function loadCri(): ProtoGrpcType {
  cached ??= grpc.loadPackageDefinition(protoLoader.loadSync(criProtoPath(), LOADER_OPTIONS)) as unknown as ProtoGrpcType;
  return cached;
}

/** Max message size both ways: what the kubelet uses (16 MiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
