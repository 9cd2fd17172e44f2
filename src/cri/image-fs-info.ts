import type { ImageFsInfoRequest__Output } from './generated/runtime/v1/ImageFsInfoRequest.js';
import type { ImageFsInfoResponse } from './generated/runtime/v1/ImageFsInfoResponse.js';
import type { Services } from './services.js';
import { fsUsage } from './mapping/stats-mapping.js';

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
      // The writable layers' filesystem (bytes/inodes from the background walk), once a container
      // service feeds the stats service; empty before, which the kubelet reads as "same as images".
      container_filesystems: s.stats?.servesContainers ? s.stats.containerFilesystems().map(fsUsage) : [],
    };
  };
}
