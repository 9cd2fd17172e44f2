// Live progress of the pulls running now: per pull and per layer, bytes downloaded and unpacked
// out of the total, speeds, ETA and phase. Read by /metrics (in-flight pulls only, so the series
// end with the pull), by the /pulls endpoint and by `nexcage pull`; nothing is kept once a pull ends.

/** `done` is never served (a pull leaves the list when it ends): it is what a client shows after. */
export type PullPhase = 'resolve' | 'download' | 'unpack' | 'commit' | 'done';
/** waiting: for a download slot; download: bytes arriving (and unpacked as they come); unpack: downloaded, unpack finishing. */
export type LayerPhase = 'waiting' | 'download' | 'unpack' | 'done' | 'reused';

export interface LayerProgressView {
  digest: string;
  /** Compressed bytes, as the manifest declares. */
  size: number;
  phase: LayerPhase;
  downloadedBytes: number;
  /** Compressed bytes the unpacker has consumed. */
  unpackedBytes: number;
}

export interface PullProgressView {
  /** The normalised reference being pulled. */
  image: string;
  phase: PullPhase;
  startedAt: string;
  elapsedSeconds: number;
  /** Compressed bytes of the layers to fetch (reused layers are not counted). */
  totalBytes: number;
  downloadedBytes: number;
  unpackedBytes: number;
  /** Over the last few seconds. */
  downloadBytesPerSecond: number;
  unpackBytesPerSecond: number;
  /** Seconds left at the current speeds; absent until there is a speed to go by. */
  etaSeconds?: number;
  layers: LayerProgressView[];
}

/** Rate samples kept (ms), and the least time between two. */
const SPEED_WINDOW_MS = 4000;
const SAMPLE_EVERY_MS = 200;

class Rate {
  private samples: { t: number; bytes: number }[] = [];

  sample(t: number, bytes: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && t - last.t < SAMPLE_EVERY_MS) return;
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - (this.samples[0] as { t: number }).t > SPEED_WINDOW_MS) this.samples.shift();
  }

  perSecond(t: number, bytes: number): number {
    const first = this.samples[0];
    if (!first || t - first.t < 100) return 0;
    return ((bytes - first.bytes) * 1000) / (t - first.t);
  }
}

export class PullProgress {
  phase: PullPhase = 'resolve';
  readonly layers: LayerProgressView[] = [];
  private readonly started = performance.now();
  private readonly startedAt = new Date().toISOString();
  private downloaded = 0;
  private unpacked = 0;
  private readonly dlRate = new Rate();
  private readonly unpackRate = new Rate();

  constructor(readonly image: string) {}

  setLayers(layers: { digest: string; size: number; reused: boolean }[]): void {
    this.layers.length = 0;
    for (const l of layers) {
      this.layers.push({ digest: l.digest, size: l.size, phase: l.reused ? 'reused' : 'waiting', downloadedBytes: 0, unpackedBytes: 0 });
    }
    const now = performance.now();
    this.dlRate.sample(now, 0);
    this.unpackRate.sample(now, 0);
  }

  layerPhase(i: number, phase: LayerPhase): void {
    const l = this.layers[i];
    if (l) l.phase = phase;
  }

  addDownloaded(i: number, n: number): void {
    const l = this.layers[i];
    if (!l) return;
    l.downloadedBytes += n;
    this.downloaded += n;
    this.dlRate.sample(performance.now(), this.downloaded);
  }

  addUnpacked(i: number, n: number): void {
    const l = this.layers[i];
    if (!l) return;
    l.unpackedBytes += n;
    this.unpacked += n;
    this.unpackRate.sample(performance.now(), this.unpacked);
  }

  view(): PullProgressView {
    const now = performance.now();
    const fetched = this.layers.filter((l) => l.phase !== 'reused');
    const totalBytes = fetched.reduce((s, l) => s + l.size, 0);
    const dlSpeed = this.dlRate.perSecond(now, this.downloaded);
    const unpackSpeed = this.unpackRate.perSecond(now, this.unpacked);
    const left = (done: number, speed: number): number | undefined => (done >= totalBytes ? 0 : speed > 0 ? (totalBytes - done) / speed : undefined);
    const dlLeft = left(this.downloaded, dlSpeed);
    const unpackLeft = left(this.unpacked, unpackSpeed);
    // Unpacking follows the download: it cannot end before the download does.
    const eta = dlLeft === undefined || unpackLeft === undefined ? undefined : Math.max(dlLeft, unpackLeft);
    return {
      image: this.image,
      phase: this.phase,
      startedAt: this.startedAt,
      elapsedSeconds: round((now - this.started) / 1000, 3),
      totalBytes,
      downloadedBytes: this.downloaded,
      unpackedBytes: this.unpacked,
      downloadBytesPerSecond: Math.round(dlSpeed),
      unpackBytesPerSecond: Math.round(unpackSpeed),
      ...(eta === undefined || this.layers.length === 0 ? {} : { etaSeconds: round(eta, 1) }),
      layers: this.layers.map((l) => ({ ...l })),
    };
  }
}

/** The pulls running now. */
export class PullTracker {
  private readonly running = new Set<PullProgress>();

  start(image: string): PullProgress {
    const p = new PullProgress(image);
    this.running.add(p);
    return p;
  }

  end(p: PullProgress): void {
    this.running.delete(p);
  }

  list(): PullProgressView[] {
    return [...this.running].map((p) => p.view());
  }
}

/** The daemon's pulls (one image service per process), as the metrics registry is one per process. */
export const pullTracker = new PullTracker();

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** "154.2 MB": decimal units, as registries and `crictl images` show sizes. */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[u] as string}`;
}

/** One line for a log or a non-terminal: phase, bytes, layers done, speed, ETA. */
export function summaryLine(v: PullProgressView): string {
  const done = v.layers.filter((l) => l.phase === 'done' || l.phase === 'reused').length;
  const parts = [
    `${v.phase}`,
    `downloaded ${formatBytes(v.downloadedBytes)} / ${formatBytes(v.totalBytes)}`,
    `unpacked ${formatBytes(v.unpackedBytes)}`,
    `layers ${done}/${v.layers.length}`,
    `${formatBytes(v.downloadBytesPerSecond)}/s`,
  ];
  if (v.etaSeconds !== undefined) parts.push(`ETA ${formatSeconds(v.etaSeconds)}`);
  return parts.join(', ');
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.ceil(s - m * 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
