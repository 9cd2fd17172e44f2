// Before binding: a socket file left by a dead daemon is replaced; one that still answers
// belongs to a live daemon and we refuse to start.
import { connect } from 'node:net';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FailedPreconditionError, isErrno } from '../lib/errors.js';

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (live: boolean): void => {
      s.destroy();
      resolve(live);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(2000, () => done(true)); // slow but accepting: treat as alive, never steal it
  });
}

export async function claimSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  if (!st.isSocket()) throw new FailedPreconditionError(`${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw new FailedPreconditionError(`another daemon is serving on ${path}; refusing to start`);
  await unlink(path);
}
