// Reading a checkpoint archive back for a restore, with real tar archives: a whole archive of this
// node's architecture is accepted (as nexcage and CRI-O's "./" member names write it); anything
// else is INVALID_ARGUMENT naming the archive and what is wrong, and no member lands outside the
// directory it is unpacked into.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { criuCoreImage, criuImage } from '../test-fakes.js';
import { goArch, readArchiveMetadata, setUtsNodename, unpackArchive } from './container-checkpoint-archive.js';
import { removeDeletedFiles, unpackRootfsDiff } from './container-checkpoint-rootfs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-archive-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const OTHER_ARCH = goArch() === 'arm64' ? 'amd64' : 'arm64';

function nexcageDump(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    version: 1,
    architecture: goArch(),
    containerId: 'a'.repeat(64),
    config: { metadata: { name: 'counter', attempt: 0 }, image: { image: 'busybox' } },
    image: { id: 'sha256:1', ref: 'busybox@sha256:1', requested: 'busybox' },
    ...extra,
  });
}

/** The members of a good archive (file name -> content); tests change or drop some. */
function members(): Record<string, string | Buffer> {
  return {
    'config.dump': JSON.stringify({ id: 'a'.repeat(64), name: 'counter' }),
    'spec.dump': JSON.stringify({ ociVersion: '1.0.2' }),
    'nexcage.dump': nexcageDump(),
    'checkpoint/core-1.img': criuCoreImage(goArch()),
    'checkpoint/pages-1.img': 'pages',
  };
}

/** A tar of `files` made in its own dir; `dotSlash`: members named "./x" as `tar -C d .` writes them. */
function archive(files: Record<string, string | Buffer>, o: { dotSlash?: boolean; name?: string } = {}): string {
  const src = mkdtempSync(join(dir, 'src-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(src, name)), { recursive: true });
    writeFileSync(join(src, name), content);
  }
  const path = join(dir, o.name ?? 'c.tar');
  execFileSync('tar', ['--create', '--file', path, '--directory', src, ...(o.dotSlash ? ['.'] : readdirSync(src))]);
  return path;
}

async function refusal(path: string): Promise<string> {
  const out = mkdtempSync(join(dir, 'meta-'));
  const err = await readArchiveMetadata(path, out, 10_000).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  return (err as Error).message;
}

describe('reading a checkpoint archive', () => {
  it('accepts a whole archive of this architecture, with plain or "./" member names', async () => {
    for (const dotSlash of [false, true]) {
      const path = archive(members(), { dotSlash });
      const out = mkdtempSync(join(dir, 'meta-'));
      const meta = await readArchiveMetadata(path, out, 10_000);
      expect(meta.nexcage.config.metadata.name).toBe('counter');
      expect(meta.config.name).toBe('counter');
      // Only the metadata and core images are unpacked to check it, not the memory pages.
      expect(existsSync(join(out, 'checkpoint', 'pages-1.img'))).toBe(false);
    }
  });

  it('refuses what is not a tar archive', async () => {
    writeFileSync(join(dir, 'junk.tar'), 'this is not a tar archive at all, just some text that is long enough');
    expect(await refusal(join(dir, 'junk.tar'))).toMatch(new RegExp(`^checkpoint archive "${join(dir, 'junk.tar')}" is not a readable tar archive: tar: .+`));
  });

  it('refuses an archive without the files every container checkpoint has', async () => {
    for (const missing of ['config.dump', 'spec.dump']) {
      const files = members();
      delete files[missing];
      const path = archive(files);
      expect(await refusal(path)).toBe(`checkpoint archive "${path}" has no ${missing}: not a container checkpoint`);
    }
    const noImages = members();
    delete noImages['checkpoint/core-1.img'];
    delete noImages['checkpoint/pages-1.img'];
    expect(await refusal(archive(noImages))).toBe(`checkpoint archive "${join(dir, 'c.tar')}" has no checkpoint: not a container checkpoint`);
  });

  it("refuses a checkpoint made by another runtime (no nexcage.dump), or one without CRIU's core image", async () => {
    const foreign = members();
    delete foreign['nexcage.dump'];
    const path = archive(foreign);
    expect(await refusal(path)).toBe(`checkpoint archive "${path}" has no nexcage.dump: only checkpoints made by nexcage can be restored`);
    const coreless = members();
    delete coreless['checkpoint/core-1.img'];
    expect(await refusal(archive(coreless))).toBe(`checkpoint archive "${path}" has no CRIU core image under checkpoint/`);
  });

  it('refuses metadata that is not JSON or not a version 1 record', async () => {
    const path = join(dir, 'c.tar');
    for (const [name, content, message] of [
      ['nexcage.dump', '{not json', 'nexcage.dump is not JSON'],
      ['config.dump', '', 'config.dump is not JSON'],
      ['spec.dump', '<spec/>', 'spec.dump is not JSON'],
      ['nexcage.dump', nexcageDump({ version: 2 }), 'nexcage.dump is not a version 1 record with a container config, image and architecture'],
      ['nexcage.dump', nexcageDump({ config: {} }), 'nexcage.dump is not a version 1 record with a container config, image and architecture'],
      ['nexcage.dump', nexcageDump({ image: null }), 'nexcage.dump is not a version 1 record with a container config, image and architecture'],
      ['nexcage.dump', nexcageDump({ architecture: 7 }), 'nexcage.dump is not a version 1 record with a container config, image and architecture'],
    ] as const) {
      rmSync(path, { force: true });
      archive({ ...members(), [name]: content });
      expect(await refusal(path)).toBe(`checkpoint archive "${path}": ${message}`);
    }
  });

  it('refuses a checkpoint of another architecture, by its own word or by its CRIU images', async () => {
    const path = archive({ ...members(), 'nexcage.dump': nexcageDump({ architecture: OTHER_ARCH }) });
    expect(await refusal(path)).toBe(`checkpoint archive "${path}" was made on ${OTHER_ARCH}; this node is ${goArch()}`);
    rmSync(path);
    archive({ ...members(), 'checkpoint/core-7.img': criuCoreImage(OTHER_ARCH) });
    expect(await refusal(path)).toBe(`checkpoint archive "${path}" holds processes dumped on ${OTHER_ARCH} (checkpoint/core-7.img); this node is ${goArch()}`);
  });

  it('refuses a core image that is not one; accepts one that names no architecture', async () => {
    const path = archive({ ...members(), 'checkpoint/core-1.img': 'garbage' });
    expect(await refusal(path)).toBe(`checkpoint archive "${path}": checkpoint/core-1.img is not a CRIU core image (not a CRIU core image)`);
    rmSync(path);
    archive({ ...members(), 'checkpoint/core-1.img': criuImage(0x55053847, Buffer.from([0x08, 0x01])).subarray(0, 13) });
    expect(await refusal(path)).toBe(`checkpoint archive "${path}": checkpoint/core-1.img is not a CRIU core image (truncated)`);
    rmSync(path);
    // A CoreEntry whose first fields are a fixed64 and a fixed32 and no mtype at all.
    archive({ ...members(), 'checkpoint/core-1.img': criuImage(0x55053847, Buffer.from([0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1d, 1, 2, 3, 4])) });
    const meta = await readArchiveMetadata(path, mkdtempSync(join(dir, 'meta-')), 10_000);
    expect(meta.nexcage.architecture).toBe(goArch());
    rmSync(path);
    archive({ ...members(), 'checkpoint/core-1.img': criuImage(0x55053847, Buffer.from([0x0b])) });
    expect(await refusal(path)).toBe(`checkpoint archive "${path}": checkpoint/core-1.img is not a CRIU core image (bad protobuf)`);
  });
});

describe('unpacking a checkpoint archive for a restore', () => {
  it('unpacks the CRIU images and the rest, not the metadata checked already', async () => {
    const path = archive({ ...members(), 'container.log': 'log\n' });
    const out = mkdtempSync(join(dir, 'restore-'));
    await unpackArchive(path, out, 10_000);
    expect(readdirSync(out).sort()).toEqual(['checkpoint', 'container.log', 'nexcage.dump']);
    expect(readdirSync(join(out, 'checkpoint')).sort()).toEqual(['core-1.img', 'pages-1.img']);
  });

  it('refuses an archive with no CRIU images', async () => {
    const path = archive({ 'config.dump': '{}', 'nexcage.dump': '{}' });
    await expect(unpackArchive(path, mkdtempSync(join(dir, 'restore-')), 10_000)).rejects.toThrow(`checkpoint archive "${path}" has no CRIU images`);
  });

  it('refuses a member that climbs out with "..", naming it; nothing lands outside', async () => {
    const src = mkdtempSync(join(dir, 'evil-'));
    writeFileSync(join(src, 'evil'), 'owned');
    const path = join(dir, 'evil.tar');
    execFileSync('tar', ['--create', '--file', path, '--directory', src, '--transform', 's,^evil,../../evil,', 'evil']);
    const out = join(dir, 'a', 'b', 'restore');
    mkdirSync(out, { recursive: true });
    const err = await unpackArchive(path, out, 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe(`checkpoint archive "${path}" could not be unpacked: tar: ../../evil: Member name contains '..'`);
    expect(existsSync(join(dir, 'a', 'evil'))).toBe(false);
    expect(existsSync(join(dir, 'evil'))).toBe(false);
  });
});

describe("a checkpoint's writable layer", () => {
  it('unpacks into the upper dir; a member through a symlink that points outside is refused and lands nowhere', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    const a = mkdtempSync(join(dir, 'layer-'));
    symlinkSync(outside, join(a, 'link'));
    const b = mkdtempSync(join(dir, 'layer-'));
    mkdirSync(join(b, 'link'));
    writeFileSync(join(b, 'link', 'file'), 'owned');
    const from = mkdtempSync(join(dir, 'restore-'));
    execFileSync('tar', ['--create', '--file', join(from, 'rootfs-diff.tar'), '--directory', a, 'link', '--directory', b, 'link/file']);
    const upper = join(dir, 'upper');
    const err = await unpackRootfsDiff(from, upper, 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe('checkpoint archive: rootfs-diff.tar could not be unpacked: tar: link/file: Cannot open: Not a directory');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('without a rootfs diff, the upper dir is made empty', async () => {
    const upper = join(dir, 'upper');
    await unpackRootfsDiff(mkdtempSync(join(dir, 'restore-')), upper, 10_000);
    expect(readdirSync(upper)).toEqual([]);
  });

  it('deleted files are removed inside the rootfs only; a list that climbs out or is not a list is refused', async () => {
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'etc', 'app'), { recursive: true });
    writeFileSync(join(rootfs, 'etc', 'app', 'old.conf'), 'x');
    writeFileSync(join(dir, 'precious'), 'keep');
    // A symlinked parent resolves inside the rootfs: /esc -> / of the host would be /.
    symlinkSync('/', join(rootfs, 'esc'));
    const from = mkdtempSync(join(dir, 'restore-'));
    writeFileSync(join(from, 'deleted.files'), JSON.stringify(['/etc/app/old.conf', `/esc${dir}/precious`, '/not/there']));
    expect(await removeDeletedFiles(from, rootfs)).toBe(3);
    expect(existsSync(join(rootfs, 'etc', 'app', 'old.conf'))).toBe(false);
    expect(existsSync(join(dir, 'precious'))).toBe(true);
    for (const [content, message] of [
      [JSON.stringify(['/../../precious']), 'checkpoint archive: deleted path "/../../precious" is not a clean absolute path'],
      [JSON.stringify(['/']), 'checkpoint archive: deleted path "/" is not a clean absolute path'],
      ['{', 'checkpoint archive: deleted.files is not JSON'],
      [JSON.stringify({ path: '/x' }), 'checkpoint archive: deleted.files is not a list of paths'],
      [JSON.stringify([1]), 'checkpoint archive: deleted.files is not a list of paths'],
    ] as const) {
      writeFileSync(join(from, 'deleted.files'), content);
      await expect(removeDeletedFiles(from, rootfs)).rejects.toThrow(message);
    }
    expect(existsSync(join(dir, 'precious'))).toBe(true);
  });
});

describe('UTS images of a restore', () => {
  it("are all pointed at the new pod's hostname; other images are left alone", async () => {
    const images = mkdtempSync(join(dir, 'images-'));
    const uts = criuImage(0x54473203, Buffer.concat([Buffer.from([0x0a, 3]), Buffer.from('old'), Buffer.from([0x12, 1]), Buffer.from('d')]));
    writeFileSync(join(images, 'utsns-12.img'), uts);
    writeFileSync(join(images, 'core-1.img'), 'untouched');
    await setUtsNodename(images, 'new-pod');
    const after = execFileSync('cat', [join(images, 'utsns-12.img')]);
    expect(after.subarray(12).toString('latin1')).toBe('\n\u0007new-pod\u0012\u0001d');
    expect(execFileSync('cat', [join(images, 'core-1.img')], { encoding: 'utf8' })).toBe('untouched');
  });
});
