// Pinned network namespaces on a real temp dir (root, util-linux unshare): what is mounted while
// pins exist, what is left once they are removed, and a failed unshare undone.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeHelperIfBuilt } from '../../lib/native-helpers.js';
import { NetnsPins } from './netns.js';

let root = '';

/** Mount points at or under `dir` (unescaped) with their filesystem type, from this process's mountinfo. */
function mountsUnder(dir: string): { path: string; fstype: string }[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      const path = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return { path, fstype: f[f.indexOf('-') + 1] ?? '' };
    })
    .filter((m) => m.path === dir || m.path.startsWith(`${dir}/`));
}

describe('NetnsPins', () => {
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'nexcage-netns-'));
  });
  afterEach(() => {
    // Whatever a failing test left mounted goes before the dir does (deepest first).
    for (const m of mountsUnder(root).reverse()) execFileSync('umount', ['--lazy', m.path]);
    rmSync(root, { recursive: true, force: true });
  });

  it('pins each pod in its own netns under a private dir mount that exists only while pins do', async () => {
    const pins = new NetnsPins(join(root, 'netns'), undefined, 0);
    await pins.init();
    expect(mountsUnder(root)).toEqual([]);
    const a = await pins.create('pod-a');
    const b = await pins.create('pod-b');
    expect(a).toBe(join(root, 'netns', 'pod-a'));
    expect(pins.pathFor('pod-b')).toBe(b);
    expect(mountsUnder(root).map((m) => m.fstype)).toEqual([expect.any(String), 'nsfs', 'nsfs']);
    expect(mountsUnder(root)[0]!.path).toBe(join(root, 'netns'));
    expect((await pins.list()).sort()).toEqual(['pod-a', 'pod-b']);
    expect(await pins.exists(a)).toBe(true);
    // Two namespaces, not one shared.
    const inode = (p: string): string => execFileSync('stat', ['-L', '-c', '%i', p], { encoding: 'utf8' }).trim();
    expect(inode(a)).not.toBe(inode(b));

    await pins.remove(a);
    expect(existsSync(a)).toBe(false);
    expect(await pins.exists(a)).toBe(false);
    expect(mountsUnder(root).map((m) => m.path)).toEqual([join(root, 'netns'), b]);
    await pins.remove(b);
    expect(mountsUnder(root)).toEqual([]);
    expect(readdirSync(join(root, 'netns'))).toEqual([]);
    // Removing what is gone is fine (teardown retries).
    await pins.remove(a);
    expect(await pins.releaseIfEmpty()).toBe(true);
  });

  it('keeps the dir mount while another pin is left; a stray file counts as a pin, a dot file does not', async () => {
    const pins = new NetnsPins(join(root, 'netns'), undefined, 0);
    const a = await pins.create('pod-a');
    writeFileSync(join(root, 'netns', '.hidden'), '');
    writeFileSync(join(root, 'netns', 'stray'), '');
    expect((await pins.list()).sort()).toEqual(['pod-a', 'stray']);
    await pins.remove(a);
    expect(mountsUnder(root).map((m) => m.path)).toEqual([join(root, 'netns')]);
    expect(await pins.releaseIfEmpty()).toBe(false);
    await pins.remove(join(root, 'netns', 'stray'));
    expect(mountsUnder(root)).toEqual([]);
  });

  it('lists nothing for a dir that does not exist', async () => {
    expect(await new NetnsPins(join(root, 'absent')).list()).toEqual([]);
  });

  it.each([
    ['the native helper', undefined],
    ['util-linux unshare', null],
  ] as const)('with %s, a pin that already exists is refused (ALREADY_EXISTS) and left as it was', async (_how, helper) => {
    const pins = new NetnsPins(join(root, 'netns'), helper, 0);
    const a = await pins.create('pod-a');
    const inode = (): string => execFileSync('stat', ['-L', '-c', '%i', a], { encoding: 'utf8' }).trim();
    const before = inode();
    await expect(pins.create('pod-a')).rejects.toMatchObject({ code: 'ALREADY_EXISTS', message: 'network namespace pin for pod "pod-a" already exists' });
    expect(await pins.exists(a)).toBe(true);
    expect(inode()).toBe(before);
    await pins.remove(a);
    expect(mountsUnder(root)).toEqual([]);
  });

  it('a failed unshare is INTERNAL naming the pod and the cause; no pin file and no mount are left', async () => {
    const fakeBin = join(root, 'bin');
    mkdirSync(fakeBin);
    writeFileSync(join(fakeBin, 'unshare'), '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n');
    chmodSync(join(fakeBin, 'unshare'), 0o755);
    const pins = new NetnsPins(join(root, 'netns'), null);
    const path = process.env.PATH;
    process.env.PATH = `${fakeBin}:${path ?? ''}`;
    try {
      await expect(pins.create('pod-x')).rejects.toMatchObject({
        code: 'INTERNAL',
        message: expect.stringMatching(/^network namespace for pod "pod-x" could not be created: unshare --net=.*pod-x true: exit code 1: unshare: unshare failed: Operation not permitted$/),
      });
    } finally {
      process.env.PATH = path;
    }
    expect(existsSync(join(root, 'netns', 'pod-x'))).toBe(false);
    expect(mountsUnder(root)).toEqual([]);
  });

  it('the native helper pins a namespace with lo up; util-linux unshare leaves lo down for the loopback plugin', async () => {
    const helper = nativeHelperIfBuilt('nexcage-netns');
    expect(helper, 'make build builds dist/native/nexcage-netns').toBeDefined();
    const lo = (p: string): string => execFileSync('nsenter', [`--net=${p}`, 'ip', '-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
    const native = new NetnsPins(join(root, 'netns'), helper, 0);
    expect(native.bringsUpLoopback).toBe(true);
    const a = await native.create('pod-a');
    expect(lo(a)).toContain('inet 127.0.0.1/8');
    const plain = new NetnsPins(join(root, 'netns'), null);
    expect(plain.bringsUpLoopback).toBe(false);
    const b = await plain.create('pod-b');
    expect(lo(b)).not.toContain('127.0.0.1');
    await native.remove(a);
    await plain.remove(b);
    expect(mountsUnder(root)).toEqual([]);
  });

  it('a failed helper is INTERNAL naming the pod and the step; no pin file and no mount are left', async () => {
    const fake = join(root, 'fake-netns');
    writeFileSync(fake, '#!/bin/sh\necho "unshare: Operation not permitted" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const pins = new NetnsPins(join(root, 'netns'), fake);
    await expect(pins.create('pod-x')).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/^network namespace for pod "pod-x" could not be created: .*fake-netns .*pod-x: exit code 1: unshare: Operation not permitted$/),
    });
    expect(existsSync(join(root, 'netns', 'pod-x'))).toBe(false);
    expect(mountsUnder(root)).toEqual([]);
  });

  describe('spare namespaces (native helper)', () => {
    /** Poll until the pool holds a spare (made in the background after a pod's pin); its name. */
    async function spareReady(pins: NetnsPins): Promise<string> {
      const dir = pins.dir;
      const deadline = Date.now() + 10_000;
      for (;;) {
        const names = readdirSync(dir);
        const linked = names.filter((n) => lstatSync(join(dir, n)).isSymbolicLink()).map((n) => readlinkSync(join(dir, n)));
        const spare = names.find((n) => n.startsWith('.spare-') && !linked.includes(n) && mountsUnder(dir).some((m) => m.path === join(dir, n)));
        if (spare && pins.readySpares > 0) return spare;
        if (Date.now() > deadline) throw new Error('no spare netns was made');
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const inode = (p: string): string => execFileSync('stat', ['-L', '-c', '%i', p], { encoding: 'utf8' }).trim();
    const lo = (p: string): string => execFileSync('nsenter', [`--net=${p}`, 'ip', '-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });

    it('keeps one ready after the first pod and hands it to the next as a link; remove takes both', async () => {
      const dir = join(root, 'netns');
      const pins = new NetnsPins(dir);
      await pins.init();
      const a = await pins.create('pod-a');
      const spare = await spareReady(pins);
      const spareIno = inode(join(dir, spare));
      const b = await pins.create('pod-b');
      expect(b).toBe(join(dir, 'pod-b'));
      expect(readlinkSync(b)).toBe(spare);
      // The pod's path is the spare's namespace: what runc and the CNI plugins open.
      expect(inode(b)).toBe(spareIno);
      expect(inode(b)).not.toBe(inode(a));
      expect(lo(b)).toContain('inet 127.0.0.1/8');
      expect(await pins.exists(b)).toBe(true);
      expect((await pins.list()).sort()).toEqual(['pod-a', 'pod-b']);
      // The pool is refilled with another one.
      const next = await spareReady(pins);
      expect(next).not.toBe(spare);

      await pins.remove(b);
      expect(existsSync(join(dir, spare))).toBe(false);
      expect(lstatSync(b, { throwIfNoEntry: false })).toBeUndefined();
      expect(await pins.exists(b)).toBe(false);
      await pins.remove(a);
      // No pod left: the spare and the dir mount stay for the next pod, until close().
      expect(mountsUnder(root).map((m) => m.path)).toEqual([dir, join(dir, next)]);
      expect(await pins.releaseIfEmpty()).toBe(false);
      await pins.close();
      expect(mountsUnder(root)).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
    });

    it('a pod that takes the last spare before the next is made gets a pin of its own', async () => {
      const dir = join(root, 'netns');
      const pins = new NetnsPins(dir);
      await pins.create('pod-a');
      await spareReady(pins);
      const [b, c] = await Promise.all([pins.create('pod-b'), pins.create('pod-c')]);
      expect(readlinkSync(b)).toMatch(/^\.spare-/);
      expect(lstatSync(c).isSymbolicLink()).toBe(false);
      expect(inode(b)).not.toBe(inode(c));
      for (const p of ['pod-a', 'pod-b', 'pod-c']) await pins.remove(join(dir, p));
      await pins.close();
      expect(mountsUnder(root)).toEqual([]);
    });

    it('a spare cannot be handed to a pod that has a pin already: ALREADY_EXISTS, the spare goes', async () => {
      const dir = join(root, 'netns');
      const pins = new NetnsPins(dir);
      const a = await pins.create('pod-a');
      const spare = await spareReady(pins);
      await expect(pins.create('pod-a')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect(existsSync(join(dir, spare))).toBe(false);
      expect(await pins.exists(a)).toBe(true);
      await pins.remove(a);
      await pins.close();
      expect(mountsUnder(root)).toEqual([]);
    });

    it('init() after a crash removes the spares no pod links to and keeps a linked one', async () => {
      const dir = join(root, 'netns');
      const crashed = new NetnsPins(dir);
      await crashed.create('pod-a');
      await spareReady(crashed);
      const b = await crashed.create('pod-b');
      const left = await spareReady(crashed);
      // A new daemon on the same dir (the old one gone without close()).
      const pins = new NetnsPins(dir);
      await pins.init();
      expect(existsSync(join(dir, left))).toBe(false);
      expect(await pins.exists(b)).toBe(true);
      expect((await pins.list()).sort()).toEqual(['pod-a', 'pod-b']);
      await pins.remove(b);
      await pins.remove(join(dir, 'pod-a'));
      await pins.close();
      await crashed.close();
      expect(mountsUnder(root)).toEqual([]);
    });

    it('a spare that cannot be made is not retried until the next pod', async () => {
      const dir = join(root, 'netns');
      const count = join(root, 'count');
      const helper = nativeHelperIfBuilt('nexcage-netns')!;
      const flaky = join(root, 'flaky-netns');
      // Pins pods, fails spares; each run leaves a line in `count`.
      writeFileSync(flaky, `#!/bin/sh\necho run >> ${count}\ncase "$*" in *.spare-*) exit 1;; esac\nexec ${helper} "$@"\n`);
      chmodSync(flaky, 0o755);
      const pins = new NetnsPins(dir, flaky);
      const runs = (): number => (existsSync(count) ? readFileSync(count, 'utf8').split('\n').length - 1 : 0);
      const runsReach = async (n: number): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (runs() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      };
      const a = await pins.create('pod-a');
      await runsReach(2);
      const b = await pins.create('pod-b');
      expect(lstatSync(b).isSymbolicLink()).toBe(false);
      await runsReach(4);
      // close() waits for a spare being tried: pod-a, its spare, pod-b, its spare, and no more.
      await pins.close();
      expect(runs()).toBe(4);
      await pins.remove(a);
      await pins.remove(b);
      expect(mountsUnder(root)).toEqual([]);
    });

    it('without the helper no spare is made', async () => {
      const dir = join(root, 'netns');
      const pins = new NetnsPins(dir, null);
      const a = await pins.create('pod-a');
      const b = await pins.create('pod-b');
      expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
      await pins.remove(a);
      await pins.remove(b);
      expect(mountsUnder(root)).toEqual([]);
    });
  });

  it('finds a pin whose path needs mountinfo escaping (a space)', async () => {
    const pins = new NetnsPins(join(root, 'net ns'), undefined, 0);
    const a = await pins.create('pod-a');
    expect(await pins.exists(a)).toBe(true);
    await pins.remove(a);
    expect(mountsUnder(root)).toEqual([]);
    expect(existsSync(a)).toBe(false);
  });
});
