// ImageService: the RPCs built so far. server.ts answers every other one with UNIMPLEMENTED.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { serverStream, unary, type HandlerContext } from './handler.js';
import { imageFsInfo } from './image-fs-info.js';
import { imageList } from './image-list.js';
import { imagePull } from './image-pull.js';
import { imageRemove } from './image-remove.js';
import { imageStatus } from './image-status.js';
import { imagesStream } from './images-stream.js';
import type { Services } from './services.js';

export function imageServiceHandlers(ctx: HandlerContext, s: Services): UntypedServiceImplementation {
  return {
    PullImage: unary(ctx, 'PullImage', imagePull(s)),
    ListImages: unary(ctx, 'ListImages', imageList(s)),
    StreamImages: serverStream(ctx, 'StreamImages', imagesStream(s)),
    ImageStatus: unary(ctx, 'ImageStatus', imageStatus(s)),
    RemoveImage: unary(ctx, 'RemoveImage', imageRemove(s)),
    ImageFsInfo: unary(ctx, 'ImageFsInfo', imageFsInfo(s)),
  };
}
