// Pinned network namespaces on a real temp dir (root, util-linux unshare): what is mounted while
// pins exist, what is left once they are removed, and a failed unshare undone.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
    const pins = new NetnsPins(join(root, 'netns'));
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
    const pins = new NetnsPins(join(root, 'netns'));
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
    const pins = new NetnsPins(join(root, 'netns'), helper);
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
    const native = new NetnsPins(join(root, 'netns'), helper);
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

  it('finds a pin whose path needs mountinfo escaping (a space)', async () => {
    const pins = new NetnsPins(join(root, 'net ns'));
    const a = await pins.create('pod-a');
    expect(await pins.exists(a)).toBe(true);
    await pins.remove(a);
    expect(mountsUnder(root)).toEqual([]);
    expect(existsSync(a)).toBe(false);
  });
});
