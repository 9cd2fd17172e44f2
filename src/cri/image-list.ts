import type { ListImagesRequest__Output } from './generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from './generated/runtime/v1/ListImagesResponse.js';
import { specImage, toCriImage } from './mapping/image-mapping.js';
import type { Services } from './services.js';

export function listImages(s: Services) {
  return (req: ListImagesRequest__Output): ListImagesResponse => {
    const filter = specImage(req.filter?.image);
    return { images: s.images.list(filter || undefined).map(toCriImage) };
  };
}
