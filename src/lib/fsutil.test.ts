import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atomicWrite, atomicWriteJson, findExecutable, readJsonIfExists } from './fsutil.js';

describe('atomicWrite', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexcage-fsutil-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces the file whole and leaves no temp file behind', async () => {
    const p = join(dir, 'sub', 'record.json');
    await atomicWriteJson(p, { a: 1 });
    await atomicWriteJson(p, { a: 2 });
    expect(await readJsonIfExists(p)).toEqual({ a: 2 });
    expect(await readdir(join(dir, 'sub'))).toEqual(['record.json']);
  });

  it('keeps the old content when the write fails', async () => {
    const p = join(dir, 'x');
    await atomicWrite(p, 'old');
    // A directory where the temp file's parent should be makes the rename target invalid.
    await expect(atomicWrite(join(p, 'child'), 'new')).rejects.toThrow();
    expect(await readFile(p, 'utf8')).toBe('old');
  });

  it('reads a missing JSON file as undefined', async () => {
    expect(await readJsonIfExists(join(dir, 'nope.json'))).toBeUndefined();
  });
});

describe('atomicWrite failure paths', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexcage-fsutil-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a rename that fails (the target is a non-empty directory) removes its temp file and leaves the target', async () => {
    const target = join(dir, 'state');
    await mkdir(join(target, 'inner'), { recursive: true });
    await expect(atomicWrite(target, 'data')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    expect((await readdir(dir)).sort()).toEqual(['state']);
    expect(await readdir(target)).toEqual(['inner']);
  });

  it('writes with the given mode and creates missing parent dirs', async () => {
    const p = join(dir, 'a', 'b', 'secret.json');
    await atomicWriteJson(p, { token: 'x' }, 0o600);
    expect((await stat(p)).mode & 0o777).toBe(0o600);
    expect(await readFile(p, 'utf8')).toBe('{\n  "token": "x"\n}\n');
  });

  it('readJsonIfExists: a file that is not JSON, or a directory, is an error, not "missing"', async () => {
    await writeFile(join(dir, 'torn.json'), '{"a":');
    await expect(readJsonIfExists(join(dir, 'torn.json'))).rejects.toThrow(SyntaxError);
    await expect(readJsonIfExists(dir)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});

describe('findExecutable', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexcage-fsutil-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the first executable regular file across dirs; skips non-executables and directories', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((d) => join(dir, d)) as [string, string, string];
    await Promise.all([a, b, c].map((d) => mkdir(d)));
    await writeFile(join(a, 'tool'), 'not executable', { mode: 0o644 });
    await mkdir(join(b, 'tool'), { mode: 0o755 });
    await writeFile(join(c, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    expect(await findExecutable('tool', [a, b, c])).toBe(join(c, 'tool'));
    expect(await findExecutable('tool', [a, b])).toBeUndefined();
    expect(await findExecutable('tool', [])).toBeUndefined();
  });

  it('checks an absolute path as it is, and looks a bare name up in $PATH by default', async () => {
    await writeFile(join(dir, 'abs-tool'), '#!/bin/sh\n', { mode: 0o755 });
    expect(await findExecutable(join(dir, 'abs-tool'), ['/nowhere'])).toBe(join(dir, 'abs-tool'));
    expect(await findExecutable(join(dir, 'missing'))).toBeUndefined();
    expect(await findExecutable('sh')).toMatch(/\/sh$/);
    const path = process.env.PATH;
    process.env.PATH = `:${dir}:`;
    try {
      expect(await findExecutable('abs-tool')).toBe(join(dir, 'abs-tool'));
    } finally {
      process.env.PATH = path;
    }
  });
});
