// StreamImages: ListImages in pages, for nodes with more images than one message should carry.
import type { StreamImagesRequest__Output } from './generated/runtime/v1/StreamImagesRequest.js';
import type { StreamImagesResponse } from './generated/runtime/v1/StreamImagesResponse.js';
import { specImage, toCriImage } from './mapping/image-mapping.js';
import type { Services } from './services.js';

const PAGE = 100;

export function streamImages(s: Services) {
  return async (req: StreamImagesRequest__Output, send: (res: StreamImagesResponse) => void, cancelled: AbortSignal): Promise<void> => {
    const filter = specImage(req.filter?.image);
    const all = s.images.list(filter || undefined);
    for (let i = 0; i < all.length && !cancelled.aborted; i += PAGE) {
      send({ images: all.slice(i, i + PAGE).map(toCriImage) });
    }
  };
}
