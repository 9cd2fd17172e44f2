// Where the infra (pause) container's root filesystem and command come from: the built-in
// rootfs (infra-rootfs.ts, no pull) or, when config `pauseImage` names one, that image: pulled on
// first use (not at start-up, so a node without registry access still starts), pinned by the
// image service and leased, its layers mounted once as a read-only overlay (lower dirs only)
// shared by every pod. Running pods keep their own reference to the mount, so the daemon
// detaches it lazily on shutdown.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, errorMessage } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import type { ImageManager } from '../../images/image-manager.js';
import type { Logger } from '../../lib/log.js';
import { ensureInfraRootfs, INFRA_ARGS } from './infra-rootfs.js';

export interface InfraRootfs {
  /** Absolute rootfs path for the OCI spec (read-only). */
  path: string;
  /** The image layers under `path` (bottom first) when it is an overlay of them; else `path` is a plain directory. */
  layers?: string[];
  args: string[];
  env?: string[];
}

export interface InfraSource {
  get(): Promise<InfraRootfs>;
  close(): Promise<void>;
}

export class BuiltinInfra implements InfraSource {
  private ready: Promise<InfraRootfs> | undefined;
  constructor(private readonly dir: string) {}
  get(): Promise<InfraRootfs> {
    this.ready ??= ensureInfraRootfs(this.dir).then((path) => ({ path, args: [...INFRA_ARGS] }));
    return this.ready;
  }
  async close(): Promise<void> {}
}

/** The image service calls the infra image needs. */
export type InfraImages = Pick<ImageManager, 'resolve' | 'pull' | 'lease' | 'layerDirs'>;

export const INFRA_LEASE_HOLDER = 'nexcage-infra';

export class ImageInfra implements InfraSource {
  private ready: Promise<InfraRootfs> | undefined;
  private mountPoint: string | undefined;

  constructor(
    private readonly ref: string,
    private readonly images: InfraImages,
    private readonly mountDir: string,
    private readonly log: Logger,
  ) {}

  get(): Promise<InfraRootfs> {
    this.ready ??= this.prepare().catch((err: unknown) => {
      this.ready = undefined; // try again on the next pod
      throw new FailedPreconditionError(`pause image "${this.ref}" cannot be used: ${errorMessage(err)}`, { cause: err });
    });
    return this.ready;
  }

  private async prepare(): Promise<InfraRootfs> {
    const image = (await this.images.resolve(this.ref)) ?? (await this.images.pull(this.ref)).image;
    await this.images.lease(INFRA_LEASE_HOLDER, image.id);
    const args = [...(image.config.Entrypoint ?? []), ...(image.config.Cmd ?? [])];
    if (args.length === 0) throw new Error('the image has neither Entrypoint nor Cmd');
    const layers = await this.images.layerDirs(image.id);
    const mountPoint = join(this.mountDir, image.id.replace(/^sha256:/, '').slice(0, 16));
    await mkdir(mountPoint, { recursive: true, mode: 0o755 });
    if (!(await isMountPoint(mountPoint))) {
      if (layers.length === 1) {
        await run('mount', ['--bind', layers[0] as string, mountPoint]);
        await run('mount', ['-o', 'remount,bind,ro', mountPoint]);
      } else {
        // overlayfs wants the top-most lower dir first; with no upper dir the mount is read-only.
        await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...layers].reverse().join(':')}`, mountPoint]);
      }
    }
    this.mountPoint = mountPoint;
    this.log.info({ image: this.ref, imageId: image.id, rootfs: mountPoint }, 'infra rootfs from the pause image');
    return { path: mountPoint, layers, args, ...(image.config.Env ? { env: [...image.config.Env] } : {}) };
  }

  async close(): Promise<void> {
    if (this.mountPoint && (await isMountPoint(this.mountPoint))) await run('umount', ['--lazy', this.mountPoint], { allowFailure: true });
    this.ready = undefined;
  }
}

async function isMountPoint(path: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((l) => l.split(' ')[4] === path);
}
