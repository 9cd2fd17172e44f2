// grpc.health.v1.Health (Check, Watch, List) with its two messages coded by hand: each holds one
// field, and loading health.proto through @grpc/proto-loader (as grpc-health-check does) builds
// descriptor objects for all of descriptor.proto, ~2.5 MB of heap held for the daemon's life.
import type * as grpc from '@grpc/grpc-js';
import type { GrpcServer, MethodHandler } from '../../lib/grpc/server.js';
import { Status, StatusError } from '../../lib/grpc/status.js';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

const STATUS_NUMBER: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };
const STATUS_NAME = Object.fromEntries(Object.entries(STATUS_NUMBER).map(([k, v]) => [v, k])) as Record<number, ServingStatus>;
const MAX_LISTED = 100;

interface CheckRequest {
  service: string;
}
interface CheckResponse {
  status: ServingStatus;
}
interface ListResponse {
  statuses: Record<string, CheckResponse>;
}

function varint(bytes: Buffer, at: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0, i = at; i < bytes.length && shift < 64; shift += 7, i++) {
    const b = bytes[i] as number;
    if (shift < 53) value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i + 1];
  }
  throw new Error('truncated varint');
}

function encodeVarint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Fields of a message as number -> last value (varints as numbers, length-delimited as bytes). */
function fields(bytes: Buffer): Map<number, number | Buffer> {
  const out = new Map<number, number | Buffer>();
  let i = 0;
  while (i < bytes.length) {
    const [key, afterKey] = varint(bytes, i);
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0: {
        const [v, next] = varint(bytes, afterKey);
        out.set(field, v);
        i = next;
        break;
      }
      case 1:
        i = afterKey + 8;
        break;
      case 2: {
        const [len, start] = varint(bytes, afterKey);
        if (start + len > bytes.length) throw new Error('truncated field');
        out.set(field, bytes.subarray(start, start + len));
        i = start + len;
        break;
      }
      case 5:
        i = afterKey + 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
  return out;
}

function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...encodeVarint(payload.length)]), payload]);
}

export function decodeCheckRequest(bytes: Buffer): CheckRequest {
  const service = fields(bytes).get(1);
  return { service: Buffer.isBuffer(service) ? service.toString('utf8') : '' };
}

export function encodeCheckRequest(req: CheckRequest): Buffer {
  return req.service === '' ? Buffer.alloc(0) : lengthDelimited(1, Buffer.from(req.service, 'utf8'));
}

export function encodeCheckResponse(res: CheckResponse): Buffer {
  const n = STATUS_NUMBER[res.status];
  return n === 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...encodeVarint(n)]);
}

export function decodeCheckResponse(bytes: Buffer): CheckResponse {
  const n = fields(bytes).get(1);
  return { status: (typeof n === 'number' && STATUS_NAME[n]) || 'UNKNOWN' };
}

/** ListResponse: map<string, HealthCheckResponse> statuses = 1, i.e. repeated {key = 1, value = 2}. */
export function encodeListResponse(res: ListResponse): Buffer {
  return Buffer.concat(
    Object.entries(res.statuses).map(([name, r]) => lengthDelimited(1, Buffer.concat([lengthDelimited(1, Buffer.from(name, 'utf8')), lengthDelimited(2, encodeCheckResponse(r))]))),
  );
}

export function decodeListResponse(bytes: Buffer): ListResponse {
  const statuses: Record<string, CheckResponse> = {};
  let i = 0;
  while (i < bytes.length) {
    const [key, afterKey] = varint(bytes, i);
    if ((key & 7) !== 2) throw new Error('ListResponse: unexpected wire type');
    const [len, start] = varint(bytes, afterKey);
    const entry = fields(bytes.subarray(start, start + len));
    const name = entry.get(1);
    const value = entry.get(2);
    if (Math.floor(key / 8) === 1) statuses[Buffer.isBuffer(name) ? name.toString('utf8') : ''] = decodeCheckResponse(Buffer.isBuffer(value) ? value : Buffer.alloc(0));
    i = start + len;
  }
  return { statuses };
}

const method = <Req, Res>(name: string, responseStream: boolean, reqDecode: (b: Buffer) => Req, reqEncode: (r: Req) => Buffer, resEncode: (r: Res) => Buffer, resDecode: (b: Buffer) => Res): grpc.MethodDefinition<Req, Res> => ({
  path: `/grpc.health.v1.Health/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: reqEncode,
  requestDeserialize: reqDecode,
  responseSerialize: resEncode,
  responseDeserialize: resDecode,
  originalName: name.toLowerCase(),
});

export const HEALTH_SERVICE = {
  Check: method('Check', false, decodeCheckRequest, encodeCheckRequest, encodeCheckResponse, decodeCheckResponse),
  Watch: method('Watch', true, decodeCheckRequest, encodeCheckRequest, encodeCheckResponse, decodeCheckResponse),
  List: method<Record<string, never>, ListResponse>('List', false, () => ({}), () => Buffer.alloc(0), encodeListResponse, decodeListResponse),
};

/** Serving status per service name ('' = the server as a whole), answered to Check/Watch/List. */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(s: ServingStatus) => void>>();

  constructor(initial: Record<string, ServingStatus>) {
    for (const [name, status] of Object.entries(initial)) this.statuses.set(name, status);
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const w of this.watchers.get(service) ?? []) w(status);
  }

  addToServer(server: GrpcServer): void {
    const add = (name: keyof typeof HEALTH_SERVICE, handle: MethodHandler['handle']): void => {
      const def = HEALTH_SERVICE[name] as grpc.MethodDefinition<unknown, unknown>;
      server.add(def.path, { responseStream: def.responseStream, decode: def.requestDeserialize, encode: def.responseSerialize, handle });
    };
    add('Check', (request) => {
      const { service } = request as CheckRequest;
      const status = this.statuses.get(service);
      if (!status) throw new StatusError(Status.NOT_FOUND, `Health status unknown for service ${service}`);
      return { status };
    });
    add('Watch', (request, call, send) => {
      const name = (request as CheckRequest).service;
      const watcher = (status: ServingStatus): void => send({ status });
      const set = this.watchers.get(name) ?? new Set();
      set.add(watcher);
      this.watchers.set(name, set);
      send({ status: this.statuses.get(name) ?? 'SERVICE_UNKNOWN' });
      // A watch lasts until its caller goes away.
      return new Promise<void>((resolve) =>
        call.signal.addEventListener('abort', () => {
          set.delete(watcher);
          if (set.size === 0 && this.watchers.get(name) === set) this.watchers.delete(name);
          resolve();
        }),
      );
    });
    add('List', () => {
      if (this.statuses.size > MAX_LISTED) throw new StatusError(Status.RESOURCE_EXHAUSTED, 'Too many services to list.');
      return { statuses: Object.fromEntries([...this.statuses].map(([name, status]) => [name, { status }])) };
    });
  }
}
