// A typed CRI client over the unix socket, for the CLI, the node agent and the tests.
import * as grpc from '@grpc/grpc-js';
import type { ImageServiceClient } from '../generated/runtime/v1/ImageService.js';
import type { RuntimeServiceClient } from '../generated/runtime/v1/RuntimeService.js';
import { loadCri, MAX_MESSAGE_BYTES } from './proto.js';

export interface CriClient {
  runtime: RuntimeServiceClient;
  image: ImageServiceClient;
  close(): void;
}

export function connectCri(socketPath: string): CriClient {
  const cri = loadCri();
  const target = socketPath.startsWith('unix://') ? socketPath : `unix://${socketPath}`;
  const options = { 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES };
  const runtime = new cri.runtime.v1.RuntimeService(target, grpc.credentials.createInsecure(), options);
  const image = new cri.runtime.v1.ImageService(target, grpc.credentials.createInsecure(), options);
  return {
    runtime,
    image,
    close: () => {
      runtime.close();
      image.close();
    },
  };
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

/** Promise form of a unary call with a deadline: `await call(c.runtime, 'Version', {})`. */
export function call<C extends grpc.Client, M extends keyof C & string, Res = CallResult<C[M]>>(
  client: C,
  method: M,
  request: CallRequest<C[M]>,
  timeoutMs = 30_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as (req: unknown, opts: grpc.CallOptions, cb: Callback<Res>) => void;
    fn.call(client, request, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as Res)));
  });
}

// The generated client methods are overloaded; the last overload is (argument, callback).
type LastOverload<F> = F extends { (a: infer A, cb: infer CB): unknown } ? [A, CB] : never;
type CallRequest<F> = LastOverload<F>[0];
type CallResult<F> = LastOverload<F>[1] extends grpc.requestCallback<infer R> ? R : never;
