import { InvalidArgumentError } from '../lib/errors.js';
import type { RemoveImageRequest__Output } from './generated/runtime/v1/RemoveImageRequest.js';
import type { RemoveImageResponse } from './generated/runtime/v1/RemoveImageResponse.js';
import { specImage } from './mapping/image-mapping.js';
import type { Services } from './services.js';

export function removeImage(s: Services) {
  return async (req: RemoveImageRequest__Output): Promise<RemoveImageResponse> => {
    const image = specImage(req.image);
    if (image === '') throw new InvalidArgumentError('RemoveImage: image.image is required');
    // Idempotent: removing an image that is not there succeeds.
    await s.images.remove(image);
    return {};
  };
}
