// Pre-pulls the listed images through the daemon's CRI ImageService, one at a time (the daemon
// already fetches layers concurrently), logging progress ("2/5 ...") and counting results in
// metrics. Images already present (ImageStatus) are not pulled again. Failures, including a
// daemon that answers UNIMPLEMENTED because it cannot pull yet, are retried with backoff; once
// every image is there the list is re-checked each resync (an image GC may remove one).
import { daemonCalls, GRPC_UNIMPLEMENTED, type DaemonCalls } from './daemon-client.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { Backoff, sleep } from './backoff.js';
import { agentPrePullImages, agentPulls, agentPullSeconds } from './metrics.js';

export type PullState = 'pending' | 'done' | 'failed';

export interface PrePullOptions {
  images: string[];
  resyncMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Per-image deadline for PullImage. */
  pullTimeoutMs?: number;
}

export class PrePuller {
  readonly state = new Map<string, PullState>();
  private readonly backoff: Backoff;

  constructor(
    private readonly client: () => Parameters<typeof daemonCalls>[0],
    private readonly options: PrePullOptions,
    private readonly log: Logger,
  ) {
    this.backoff = new Backoff(options.retryInitialMs, options.retryMaxMs);
    for (const image of options.images) this.state.set(image, 'pending');
    this.publish();
  }

  /** True once every listed image is present on the node. */
  get complete(): boolean {
    return [...this.state.values()].every((s) => s === 'done');
  }

  async run(signal: AbortSignal): Promise<void> {
    if (this.options.images.length === 0) return;
    while (!signal.aborted) {
      const ok = await this.round(signal);
      if (ok) this.backoff.reset();
      const delay = ok ? this.options.resyncMs : this.backoff.next();
      if (!ok) this.log.info({ retryInMs: delay, pending: this.count('pending') + this.count('failed') }, 'pre-pull: retrying the images not pulled yet');
      await sleep(delay, signal);
    }
  }

  /** One pass over the list; true when every image ended up present. */
  async round(signal: AbortSignal): Promise<boolean> {
    const total = this.options.images.length;
    let allOk = true;
    for (const image of this.options.images) {
      if (signal.aborted) return false;
      const result = await this.pullOne(image);
      if (result === 'failed' || result === 'unimplemented') allOk = false;
      this.state.set(image, result === 'failed' || result === 'unimplemented' ? 'failed' : 'done');
      agentPulls.inc({ result });
      this.publish();
      this.log.info({ image, result, done: this.count('done'), total }, `pre-pull progress ${this.count('done')}/${total}`);
      if (result === 'unimplemented') break; // the daemon cannot pull at all yet: no use trying the others now
    }
    return allOk;
  }

  private async pullOne(image: string): Promise<'pulled' | 'present' | 'failed' | 'unimplemented'> {
    const c: DaemonCalls = daemonCalls(this.client());
    try {
      if (await c.imageStatus(image, 10_000)) return 'present';
    } catch (err) {
      // ImageStatus may be missing (UNIMPLEMENTED) while PullImage works: just try to pull.
      if (code(err) !== GRPC_UNIMPLEMENTED) this.log.debug({ image, err: errorMessage(err) }, 'pre-pull: ImageStatus failed');
    }
    const started = process.hrtime.bigint();
    this.log.info({ image }, 'pre-pull: pulling');
    try {
      const imageRef = await c.pullImage(image, this.options.pullTimeoutMs ?? 30 * 60_000);
      agentPullSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.log.info({ image, imageRef, seconds: Number(process.hrtime.bigint() - started) / 1e9 }, 'pre-pull: pulled');
      return 'pulled';
    } catch (err) {
      if (code(err) === GRPC_UNIMPLEMENTED) {
        this.log.warn({ image, err: errorMessage(err) }, 'pre-pull: the daemon does not implement PullImage (UNIMPLEMENTED); will retry');
        return 'unimplemented';
      }
      this.log.warn({ image, err: errorMessage(err) }, 'pre-pull: pull failed; will retry');
      return 'failed';
    }
  }

  private count(s: PullState): number {
    return [...this.state.values()].filter((v) => v === s).length;
  }

  private publish(): void {
    for (const s of ['pending', 'done', 'failed'] as const) agentPrePullImages.set({ state: s }, this.count(s));
  }
}

function code(err: unknown): number | undefined {
  const c = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof c === 'number' ? c : undefined;
}
