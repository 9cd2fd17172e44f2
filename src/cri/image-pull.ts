import { InvalidArgumentError } from '../lib/errors.js';
import { credentialsFromAuth } from '../images/credentials.js';
import { PULL_DETACH_ANNOTATION } from '../images/image-manager.js';
import type { PullImageRequest__Output } from './generated/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from './generated/runtime/v1/PullImageResponse.js';
import { specImage } from './mapping/image-mapping.js';
import type { Services } from './services.js';

export function pullImage(s: Services) {
  return async (req: PullImageRequest__Output, cancelled: AbortSignal): Promise<PullImageResponse> => {
    const image = specImage(req.image);
    if (image === '') throw new InvalidArgumentError('PullImage: image.image is required');
    const a = req.auth;
    const creds = a
      ? credentialsFromAuth({
          username: a.username,
          password: a.password,
          auth: a.auth,
          serverAddress: a.server_address,
          identityToken: a.identity_token,
          registryToken: a.registry_token,
        })
      : undefined;
    // The caller going away stops the pull (once every caller sharing it has gone), unless it
    // asked for the pull to go on without it.
    const detach = req.image?.annotations?.[PULL_DETACH_ANNOTATION] === 'true';
    const r = await s.images.pull(image, creds, detach ? undefined : cancelled);
    return { image_ref: r.image.id };
  };
}
