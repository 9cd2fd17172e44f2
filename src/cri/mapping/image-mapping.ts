// Image records -> the CRI Image message (shared by ListImages, ImageStatus and StreamImages).
import type { ImageRecord } from '../../images/image-manager.js';
import type { Image } from '../generated/runtime/v1/Image.js';

export function toCriImage(r: ImageRecord): Image {
  return {
    id: r.id,
    repo_tags: r.repoTags,
    repo_digests: r.repoDigests,
    size: String(r.size),
    uid: r.uid !== undefined ? { value: String(r.uid) } : null,
    username: r.username ?? '',
    spec: { image: r.id, annotations: r.annotations, user_specified_image: '', runtime_handler: '', image_ref: r.id },
    pinned: r.pinned,
  };
}

/** The image named by an ImageSpec, or '' when none was given. */
export function specImage(spec: { image: string } | null | undefined): string {
  return spec?.image ?? '';
}
