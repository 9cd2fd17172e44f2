// `nexcage pull IMAGE`: pulls through the daemon's CRI PullImage and shows how far it is, from the
// daemon's /pulls endpoint: a bar per layer on a terminal, a line every few seconds otherwise.
// Progress goes to stderr, the image id (the last line) to stdout. Ctrl-C stops watching; the
// pull is asked for with the detach annotation, so the daemon finishes it anyway.
import type { ServiceError } from '@grpc/grpc-js';
import { call, connectCri } from '../cri/grpc/client.js';
import type { Config } from '../daemon/config-schema.js';
import { PULL_DETACH_ANNOTATION } from '../images/image-manager.js';
import type { PullProgressView } from '../images/pull-progress.js';
import { formatReference, parseReference } from '../images/reference.js';
import { errorMessage } from '../lib/errors.js';
import { finished, plainLine, terminalLines } from './pull-view.js';

/** A pull may take long; the daemon has its own stall and rate limits. */
const PULL_DEADLINE_MS = 24 * 3600 * 1000;
const TTY_REFRESH_MS = 200;
const PLAIN_EVERY_MS = 2000;

export interface PullOutput {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export async function pullCommand(config: Config, positionals: string[], io: PullOutput = { out: process.stdout, err: process.stderr }): Promise<number> {
  if (positionals.length !== 1 || positionals[0] === '') {
    io.err.write('usage: nexcage pull IMAGE [flags]\n');
    return 2;
  }
  const image = positionals[0] as string;
  let name: string;
  try {
    name = formatReference(parseReference(image));
  } catch (err) {
    io.err.write(`nexcage pull: ${errorMessage(err)}\n`);
    return 2;
  }
  const tty = io.err.isTTY === true;
  const c = connectCri(config.socket);
  const pulls = pullsUrl(config.metricsAddress);
  let drawn = 0;
  let lastPlain = 0;
  let stopped = false;
  let last: PullProgressView | undefined;
  const draw = (v: PullProgressView | undefined): void => {
    if (!v) return;
    last = v;
    if (tty) {
      const lines = terminalLines(v, Math.max(40, (io.err.columns ?? 100) - 1));
      // Back to the top of what was drawn last time, then redraw every line in place.
      const up = drawn > 0 ? `\x1b[${drawn}A` : '';
      io.err.write(up + lines.map((l) => `\r\x1b[2K${l}\n`).join(''));
      drawn = lines.length;
    } else if (Date.now() - lastPlain >= PLAIN_EVERY_MS) {
      lastPlain = Date.now();
      io.err.write(plainLine(v) + '\n');
    }
  };
  const poll = async (): Promise<void> => {
    while (!stopped && pulls) {
      const v = await fetchProgress(pulls, name);
      if (stopped) return;
      draw(v);
      await new Promise((r) => setTimeout(r, tty ? TTY_REFRESH_MS : 500));
    }
  };
  const onInt = (): void => {
    stopped = true;
    io.err.write(`\nstopped watching; the daemon goes on pulling ${name}\n`);
    c.close();
    process.exit(130);
  };
  process.once('SIGINT', onInt);
  if (!pulls) io.err.write(`pulling ${name} (no progress to show: metricsAddress is off)\n`);
  else if (!tty) io.err.write(`pulling ${name}\n`);
  const watching = poll();
  try {
    const r = await call(c.image, 'PullImage', { image: { image, annotations: { [PULL_DETACH_ANNOTATION]: 'true' } } }, PULL_DEADLINE_MS);
    stopped = true;
    await watching;
    if (last && tty) draw(finished(last));
    io.out.write(`${r.image_ref}\n`);
    return 0;
  } catch (err) {
    stopped = true;
    await watching;
    io.err.write(`nexcage pull: ${(err as ServiceError).details ?? errorMessage(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onInt);
    c.close();
  }
}

/** The /pulls URL of the daemon's metrics address (a wildcard bind is reached on loopback). */
export function pullsUrl(metricsAddress: string): string | undefined {
  if (metricsAddress === '') return undefined;
  const i = metricsAddress.lastIndexOf(':');
  let host = metricsAddress.slice(0, i).replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${metricsAddress.slice(i + 1)}/pulls`;
}

async function fetchProgress(url: string, image: string): Promise<PullProgressView | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { pulls?: PullProgressView[] };
    return body.pulls?.find((p) => p.image === image);
  } catch {
    // No progress to show (metrics off, daemon busy): the pull itself goes on.
    return undefined;
  }
}
