// The agent's CRI client for its node-local daemon: gRPC unary calls over HTTP/2 on the unix
// socket with node:http2 (taken with process.getBuiltinModule, never an ESM import that builds the
// whole module namespace), the messages coded by cri-wire.ts. The four calls the agent makes did
// not justify @grpc/grpc-js with protobufjs reflection over all of api.proto (~7 MB of RSS).
// Errors carry the gRPC status code in `code` and read like grpc-js's ("14 UNAVAILABLE: ...").
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { Status, statusName } from '../lib/grpc/status.js';
import {
  decodeImageStatusPresent,
  decodePullImageResponse,
  decodeStatusResponse,
  decodeVersionResponse,
  encodeImageStatusRequest,
  encodePullImageRequest,
  encodeStatusRequest,
  encodeVersionRequest,
  type RuntimeStatusInfo,
  type VersionInfo,
} from './cri-wire.js';

export const GRPC_DEADLINE_EXCEEDED = Status.DEADLINE_EXCEEDED;
export const GRPC_UNIMPLEMENTED = Status.UNIMPLEMENTED;
export const GRPC_INTERNAL = Status.INTERNAL;
export const GRPC_UNAVAILABLE = Status.UNAVAILABLE;

/** grpc-message is percent-encoded; a malformed one is shown as it came. */
function percentDecoded(m: string): string {
  try {
    return decodeURIComponent(m);
  } catch {
    return m;
  }
}

export class DaemonCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${statusName(code)}: ${details}`);
    this.name = 'DaemonCallError';
  }
}

/** The calls the agent makes (tests may stand in their own). */
export interface DaemonCalls {
  version(timeoutMs: number): Promise<VersionInfo>;
  status(timeoutMs: number): Promise<RuntimeStatusInfo>;
  /** True when the image is present. */
  imageStatus(image: string, timeoutMs: number): Promise<boolean>;
  /** The pulled image's reference. */
  pullImage(image: string, timeoutMs: number): Promise<string>;
  close(): void;
}

const RUNTIME = '/runtime.v1.RuntimeService';
const IMAGES = '/runtime.v1.ImageService';

export class DaemonClient implements DaemonCalls {
  private session: ClientHttp2Session | undefined;
  /** Why the last connection failed (ENOENT, ECONNREFUSED...): what a call that got no answer reports. */
  private lastError = '';

  constructor(readonly socketPath: string) {}

  async version(timeoutMs: number): Promise<VersionInfo> {
    return decodeVersionResponse(await this.unary(`${RUNTIME}/Version`, encodeVersionRequest('v1'), timeoutMs));
  }

  async status(timeoutMs: number): Promise<RuntimeStatusInfo> {
    return decodeStatusResponse(await this.unary(`${RUNTIME}/Status`, encodeStatusRequest(false), timeoutMs));
  }

  async imageStatus(image: string, timeoutMs: number): Promise<boolean> {
    return decodeImageStatusPresent(await this.unary(`${IMAGES}/ImageStatus`, encodeImageStatusRequest(image), timeoutMs));
  }

  async pullImage(image: string, timeoutMs: number): Promise<string> {
    return decodePullImageResponse(await this.unary(`${IMAGES}/PullImage`, encodePullImageRequest(image), timeoutMs));
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** One HTTP/2 connection, made on first use and again after it fails or the daemon restarts. */
  private connect(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const http2 = process.getBuiltinModule('node:http2');
    const net = process.getBuiltinModule('node:net');
    const s = http2.connect('http://localhost', { createConnection: () => net.connect(this.socketPath) });
    const drop = (): void => {
      if (this.session === s) this.session = undefined;
    };
    // Failures reach the calls on the session's streams; the session only needs forgetting.
    s.on('error', (err: Error) => {
      this.lastError = err.message;
      drop();
    });
    s.on('close', drop);
    s.on('goaway', drop);
    // Idle between calls: the connection must not keep the process alive on its own.
    s.unref();
    s.on('connect', () => (this.lastError = ''));
    this.session = s;
    return s;
  }

  private unary(path: string, message: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err: DaemonCallError | undefined, body?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(body as Buffer);
      };
      const timer = setTimeout(() => {
        finish(new DaemonCallError(GRPC_DEADLINE_EXCEEDED, `Deadline exceeded after ${timeoutMs} ms (${path})`));
        stream.close(process.getBuiltinModule('node:http2').constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      let session: ClientHttp2Session;
      try {
        session = this.connect();
      } catch (err) {
        clearTimeout(timer);
        return reject(new DaemonCallError(GRPC_UNAVAILABLE, (err as Error).message));
      }
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      message.copy(frame, 5);
      const stream = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
        'user-agent': 'nexcage-agent',
      });
      const chunks: Buffer[] = [];
      let grpcStatus: number | undefined;
      let grpcMessage = '';
      let httpStatus = 0;
      const readStatus = (h: IncomingHttpHeaders): void => {
        if (h['grpc-status'] === undefined) return;
        grpcStatus = Number(h['grpc-status']);
        const m = h['grpc-message'];
        grpcMessage = typeof m === 'string' ? percentDecoded(m) : '';
      };
      stream.on('response', (h) => {
        httpStatus = Number(h[':status']);
        readStatus(h);
      });
      stream.on('trailers', readStatus);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err: Error) => finish(new DaemonCallError(GRPC_UNAVAILABLE, `${err.message} (${this.socketPath})`)));
      stream.on('close', () => {
        if (grpcStatus === undefined) {
          const why = httpStatus === 0 ? `no answer on ${this.socketPath}${this.lastError ? `: ${this.lastError}` : ''}` : `HTTP ${httpStatus} without a gRPC status`;
          return finish(new DaemonCallError(httpStatus === 0 ? GRPC_UNAVAILABLE : GRPC_INTERNAL, `${why} (${path})`));
        }
        if (grpcStatus !== 0) return finish(new DaemonCallError(grpcStatus, grpcMessage));
        const body = Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          return finish(new DaemonCallError(GRPC_INTERNAL, `a malformed or compressed reply to ${path}`));
        }
        finish(undefined, body.subarray(5));
      });
      stream.end(frame);
    });
  }
}

/** A grpc-js CRI client (cri/grpc/client.ts connectCri), as tests make one: only its shape is used here. */
interface GrpcCriLike {
  runtime: object;
  image: object;
  close(): void;
}

type Unary = (req: unknown, options: { deadline: number }, cb: (err: Error | null, res?: unknown) => void) => unknown;

/** The agent's calls over a grpc-js CRI client (without loading grpc-js here: it is the caller's). */
export function daemonCalls(c: DaemonCalls | GrpcCriLike): DaemonCalls {
  if (!('runtime' in c)) return c;
  const call = <T>(service: object, method: string, req: unknown, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const fn = (service as Record<string, Unary>)[method] as Unary;
      fn.call(service, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  return {
    version: async (t) => {
      const v = await call<{ version: string; runtime_name: string; runtime_version: string; runtime_api_version: string }>(c.runtime, 'Version', { version: 'v1' }, t);
      return { version: v.version, runtimeName: v.runtime_name, runtimeVersion: v.runtime_version, runtimeApiVersion: v.runtime_api_version };
    },
    status: async (t) => {
      const st = await call<{ status?: { conditions: RuntimeStatusInfo['conditions'] }; runtime_handlers: { name: string }[] }>(c.runtime, 'Status', { verbose: false }, t);
      return { conditions: st.status?.conditions ?? [], handlers: st.runtime_handlers.map((h) => h.name) };
    },
    imageStatus: async (image, t) => !!(await call<{ image?: unknown }>(c.image, 'ImageStatus', { image: { image }, verbose: false }, t)).image,
    pullImage: async (image, t) => (await call<{ image_ref: string }>(c.image, 'PullImage', { image: { image } }, t)).image_ref,
    close: () => c.close(),
  };
}
