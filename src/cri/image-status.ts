import { InvalidArgumentError } from '../lib/errors.js';
import type { ImageStatusRequest__Output } from './generated/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from './generated/runtime/v1/ImageStatusResponse.js';
import { specImage, toCriImage } from './mapping/image-mapping.js';
import type { Services } from './services.js';

export function imageStatus(s: Services) {
  return (req: ImageStatusRequest__Output): ImageStatusResponse => {
    const image = specImage(req.image);
    if (image === '') throw new InvalidArgumentError('ImageStatus: image.image is required');
    const rec = s.images.lookup(image);
    // An absent image is not an error: the kubelet asks before every pull.
    if (!rec) return { image: null, info: {} };
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        manifestDigest: rec.manifestDigest,
        manifestMediaType: rec.manifestMediaType,
        indexDigest: rec.indexDigest,
        platform: rec.platform,
        config: rec.config,
        layers: rec.layers.map((l, i) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, diffId: rec.diffIds[i], chainId: rec.chainIds[i] })),
        chainIds: rec.chainIds,
        pulledAt: rec.pulledAt,
      });
    }
    return { image: toCriImage(rec), info };
  };
}
