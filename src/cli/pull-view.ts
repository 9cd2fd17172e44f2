// What `nexcage pull` prints about a running pull: a bar per layer on a terminal (redrawn in
// place), one summary line otherwise. Pure functions of the daemon's /pulls entry.
import { formatBytes, formatSeconds, summaryLine, type LayerProgressView, type PullProgressView } from '../images/pull-progress.js';

const BAR = 30;

/** The lines of the terminal view: a header, then one per layer. */
export function terminalLines(v: PullProgressView, width = 100): string[] {
  const head = [`${v.image}: ${v.phase}`, `${formatBytes(v.downloadedBytes)} / ${formatBytes(v.totalBytes)}`, `${formatBytes(v.downloadBytesPerSecond)}/s`];
  if (v.etaSeconds !== undefined) head.push(`ETA ${formatSeconds(v.etaSeconds)}`);
  return [head.join('  '), ...v.layers.map((l) => layerLine(l))].map((line) => cut(line, width));
}

/** `abcdef012345 download [=====-----     ] 12.3 MB / 30.1 MB`: '=' unpacked, '-' downloaded only. */
export function layerLine(l: LayerProgressView): string {
  const id = l.digest.replace(/^sha256:/, '').slice(0, 12);
  if (l.phase === 'reused') return `${id} already present`;
  const fill = (n: number): number => (l.size > 0 ? Math.min(BAR, Math.floor((n / l.size) * BAR)) : BAR);
  const unpacked = l.phase === 'done' ? BAR : fill(l.unpackedBytes);
  const downloaded = Math.max(unpacked, l.phase === 'done' ? BAR : fill(l.downloadedBytes));
  const bar = '='.repeat(unpacked) + '-'.repeat(downloaded - unpacked) + ' '.repeat(BAR - downloaded);
  const bytes = l.phase === 'done' ? formatBytes(l.size) : `${formatBytes(l.downloadedBytes)} / ${formatBytes(l.size)}`;
  return `${id} ${l.phase.padEnd(8)} [${bar}] ${bytes}`;
}

/** The last view of a pull that has succeeded: every layer it fetched is whole and unpacked. */
export function finished(v: PullProgressView): PullProgressView {
  return {
    ...v,
    phase: 'done',
    downloadedBytes: v.totalBytes,
    unpackedBytes: v.totalBytes,
    etaSeconds: 0,
    layers: v.layers.map((l) => (l.phase === 'reused' ? l : { ...l, phase: 'done', downloadedBytes: l.size, unpackedBytes: l.size })),
  };
}

/** One line for a log or a pipe. */
export function plainLine(v: PullProgressView): string {
  return `${v.image}: ${summaryLine(v)}`;
}

function cut(line: string, width: number): string {
  return line.length <= width ? line : line.slice(0, Math.max(0, width - 1));
}
