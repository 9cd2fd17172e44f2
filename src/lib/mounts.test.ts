// Host mounts for real (root, on the temp dir): overlay and /dev/shm tmpfs through the native
// helper and, when it is not built, through util-linux mount/umount; unmounting a busy mount
// lazily; the helper's own errors.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { findNativeHelper } from './native-helpers.js';

let root = '';

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => {
      const p = l.split(' ')[4] ?? '';
      return p === dir || p.startsWith(`${dir}/`);
    });
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'nexcage-mounts-'));
  for (const d of ['l1', 'l2', 'up', 'wk', 'ovl', 'shm']) mkdirSync(join(root, d));
  writeFileSync(join(root, 'l1', 'f'), 'lower 1');
  writeFileSync(join(root, 'l2', 'f'), 'lower 2');
});
afterEach(() => {
  for (const l of mountsUnder(root).reverse()) execFileSync('umount', ['--lazy', l.split(' ')[4] as string]);
  rmSync(root, { recursive: true, force: true });
});

/** Mount both kinds, check them, unmount one while busy; with the module as loaded now. */
async function exercise(m: typeof import('./mounts.js')): Promise<void> {
  const ovl = join(root, 'ovl');
  const shm = join(root, 'shm');
  await m.mountOverlay(root, 'lowerdir=l2:l1,upperdir=up,workdir=wk', ovl);
  expect(readFileSync(join(ovl, 'f'), 'utf8')).toBe('lower 2');
  await m.mountShmTmpfs(shm, 'mode=1777,size=1048576');
  const line = mountsUnder(shm)[0] ?? '';
  expect(line).toMatch(/ - tmpfs shm /);
  expect(line).toMatch(/size=1024k/);
  expect(line.split(' ')[5]).toMatch(/nosuid,nodev,noexec/);
  expect(await m.isMounted(shm)).toBe(true);
  // A process with its cwd in the overlay keeps it busy: the unmount goes lazy.
  const busy = spawn('sleep', ['30'], { cwd: ovl, stdio: 'ignore' });
  try {
    await until('the busy process to start', () => existsSync(`/proc/${busy.pid}/cwd`));
    await m.unmount(ovl);
    await m.unmount(shm);
    expect(mountsUnder(root)).toEqual([]);
    await m.unmount(shm); // not mounted: fine
  } finally {
    busy.kill('SIGKILL');
  }
}

describe('host mounts', () => {
  it('through the native helper: an overlay, a nosuid/nodev/noexec tmpfs, a lazy unmount of a busy one', async () => {
    await exercise(await import('./mounts.js'));
  });

  it('when the helper is not built, mount(8) and umount(8) do the same', async () => {
    vi.resetModules();
    vi.doMock('./native-helpers.js', () => ({ nativeHelperIfBuilt: () => undefined }));
    try {
      await exercise(await import('./mounts.js'));
    } finally {
      vi.doUnmock('./native-helpers.js');
      vi.resetModules();
    }
  });

  it('the helper says what failed: bad usage (2), a missing target (1, naming it)', () => {
    const helper = findNativeHelper('nexcage-mount');
    const call = (args: string[]): { code: number; err: string } => {
      try {
        execFileSync(helper, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        return { code: 0, err: '' };
      } catch (e) {
        const x = e as { status: number; stderr: Buffer };
        return { code: x.status, err: x.stderr.toString() };
      }
    };
    expect(call(['overlay', root])).toMatchObject({ code: 2, err: expect.stringContaining('usage') });
    const missing = join(root, 'no-such-target');
    expect(call(['overlay', root, missing, 'lowerdir=l2:l1'])).toMatchObject({ code: 1, err: expect.stringContaining(`mount overlay at ${missing}`) });
    expect(call(['tmpfs', missing, 'size=1m'])).toMatchObject({ code: 1, err: expect.stringContaining(`mount tmpfs at ${missing}`) });
    expect(call(['umount', missing])).toMatchObject({ code: 1, err: expect.stringContaining(`umount ${missing}`) });
  });
});
