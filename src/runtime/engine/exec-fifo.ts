// Starting a container that runc created, without a `runc start` process. `runc create` leaves
// the container's init blocked opening <root>/<id>/exec.fifo for writing; `runc start` only opens
// it for reading, takes the byte init writes (init then execs the process, which closes the fifo)
// and removes the fifo (runc reports "created" while it exists). Poststart hooks are no part of
// it: runc 1.1 runs them at create. Other runtimes, or a runc whose fifo is not where runc puts
// it, go through `runtime start`.
import { constants, openSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { basename, join } from 'node:path';
import { FailedPreconditionError, InternalError, isErrno } from '../../lib/errors.js';
import { withSpan } from '../../lib/tracing.js';
import type { OciRuntime } from './oci-runtime.js';

export async function startCreated(runtime: OciRuntime, id: string, pid: number, timeoutMs = 30_000): Promise<void> {
  if (basename(runtime.binary) !== 'runc') return runtime.start(id);
  const fifo = join(runtime.root, id, 'exec.fifo');
  let fd: number;
  try {
    // Non-blocking: a blocking open would hold a libuv worker until init opens its end.
    fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return runtime.start(id);
    throw err;
  }
  // A span of its own, as `exec runc` would have had (traces show where a start spent its time).
  const bytes = await withSpan('runtime.start', { 'container.id': id, 'runtime.start.via': 'exec.fifo' }, () => drain(fd, pid, timeoutMs, id));
  if (bytes === 0) throw new FailedPreconditionError(`container "${id}" cannot be started: it is running already`);
  await unlink(fifo).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw err;
  });
}

/** Bytes read until init closes its end (it exec'd); fails once init is gone without writing. */
function drain(fd: number, pid: number, timeoutMs: number, id: string): Promise<number> {
  const sock = new Socket({ fd, readable: true, writable: false });
  return new Promise<number>((resolve, reject) => {
    let bytes = 0;
    const deadline = Date.now() + timeoutMs;
    const finish = (err?: Error): void => {
      clearInterval(watch);
      sock.destroy();
      if (err) reject(err);
      else resolve(bytes);
    };
    // As `runc start` does: every 100 ms, whether init is still there to write.
    const watch = setInterval(() => {
      void initGone(pid).then((gone) => {
        if (gone && bytes === 0) finish(new InternalError(`container "${id}" could not be started: its init process is already dead`));
        else if (Date.now() > deadline) finish(new InternalError(`container "${id}" did not start within ${timeoutMs} ms`));
      });
    }, 100);
    sock.on('data', (b: Buffer) => {
      bytes += b.length;
    });
    sock.on('end', () => finish());
    sock.on('error', (err) => finish(err));
  });
}

async function initGone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The state is the field after the parenthesised command name.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === '' || state === 'Z' || state === 'X';
}
