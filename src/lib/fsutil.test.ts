import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { atomicWrite, atomicWriteJson, readJsonIfExists } from './fsutil.js';

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
