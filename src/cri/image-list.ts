import type { ImageRecord } from '../images/image-manager.js';
import type { ListImagesRequest__Output } from './generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from './generated/runtime/v1/ListImagesResponse.js';
import { EncodedList, type Encoded } from './grpc/encoded-list.js';
import { criMethod } from './grpc/proto.js';
import { specImage, toCriImage } from './mapping/image-mapping.js';
import type { Services } from './services.js';

/** Answered from memory, unchanged images from their cached wire bytes: the kubelet polls this. */
export function listImages(s: Services) {
  const serialize = criMethod('runtime.v1.ImageService', 'ListImages').responseSerialize;
  const all = new EncodedList<ImageRecord>((r) => serialize({ images: [toCriImage(r)] } satisfies ListImagesResponse));
  // A filtered answer (one image) is kept apart, so it does not replace the full list's last answer.
  const one = new EncodedList<ImageRecord>((r) => serialize({ images: [toCriImage(r)] } satisfies ListImagesResponse));
  return (req: ListImagesRequest__Output): Encoded => {
    const filter = specImage(req.filter?.image);
    return filter ? one.encode(s.images.list(filter)) : all.encode(s.images.list());
  };
}
