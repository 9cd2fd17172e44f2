// ImageService: the RPCs built so far. server.ts answers every other one with UNIMPLEMENTED.
import { serverStream, unary, type HandlerContext, type RpcHandlers } from './grpc/handler.js';
import { imageFsInfo } from './image-fs-info.js';
import { listImages } from './image-list.js';
import { pullImage } from './image-pull.js';
import { removeImage } from './image-remove.js';
import { imageStatus } from './image-status.js';
import { streamImages } from './image-stream.js';
import type { Services } from './services.js';

export function imageServiceHandlers(ctx: HandlerContext, s: Services): RpcHandlers {
  return {
    PullImage: unary(ctx, 'PullImage', pullImage(s)),
    ListImages: unary(ctx, 'ListImages', listImages(s)),
    StreamImages: serverStream(ctx, 'StreamImages', streamImages(s)),
    ImageStatus: unary(ctx, 'ImageStatus', imageStatus(s)),
    RemoveImage: unary(ctx, 'RemoveImage', removeImage(s)),
    ImageFsInfo: unary(ctx, 'ImageFsInfo', imageFsInfo(s)),
  };
}
