import type { ImageFsInfoRequest__Output } from './generated/runtime/v1/ImageFsInfoRequest.js';
import type { ImageFsInfoResponse } from './generated/runtime/v1/ImageFsInfoResponse.js';
import type { Services } from './services.js';

export function imageFsInfo(s: Services) {
  return async (_req: ImageFsInfoRequest__Output): Promise<ImageFsInfoResponse> => {
    const u = await s.images.fsUsage();
    return {
      image_filesystems: [
        {
          timestamp: (BigInt(u.timestampMs) * 1_000_000n).toString(),
          fs_id: { mountpoint: u.mountpoint },
          used_bytes: { value: String(u.usedBytes) },
          inodes_used: { value: String(u.inodesUsed) },
        },
      ],
      // Container writable layers are reported here once containers exist (issue 5).
      container_filesystems: [],
    };
  };
}
