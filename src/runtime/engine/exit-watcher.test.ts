import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { ExitWatcher, type ExitInfo } from './exit-watcher.js';

describe('ExitWatcher', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds exit files written while the daemon was down, then reports new ones once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-exits-'));
    writeFileSync(join(dir, 'old'), '137');
    const w = new ExitWatcher(dir, silentLogger());
    const found = await w.start();
    expect(found.map((e) => [e.id, e.exitCode])).toEqual([['old', 137]]);
    const seen: ExitInfo[] = [];
    w.on((e) => seen.push(e));
    // conmon writes a temp file and renames it into place
    writeFileSync(join(dir, '.tmp'), '3');
    renameSync(join(dir, '.tmp'), join(dir, 'new'));
    const deadline = Date.now() + 5000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    writeFileSync(join(dir, 'new'), '3');
    await new Promise((r) => setTimeout(r, 50));
    w.stop();
    expect(seen.map((e) => [e.id, e.exitCode])).toEqual([['new', 3]]);
    expect(seen[0]!.finishedAtNs).toBeGreaterThan(0n);
    expect(await w.read('missing')).toBeUndefined();
    await w.remove('new');
    expect(await w.read('new')).toBeUndefined();
  });

  it('skips temp files and half-written exit files, and one failing listener does not keep the others from hearing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-exits-'));
    writeFileSync(join(dir, '.conmon-tmp'), '1');
    writeFileSync(join(dir, 'writing'), '');
    const w = new ExitWatcher(dir, silentLogger());
    expect(await w.start()).toEqual([]);
    const seen: string[] = [];
    w.on(() => {
      throw new Error('listener bug');
    });
    w.on((e) => seen.push(`${e.id}=${e.exitCode}`));
    writeFileSync(join(dir, 'partial'), '1\n2');
    writeFileSync(join(dir, 'done'), '-1');
    const deadline = Date.now() + 5000;
    while (!seen.includes('done=-1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(['done=-1']);
    // Completed later, it is reported then.
    writeFileSync(join(dir, 'writing'), '0');
    while (!seen.includes('writing=0') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    w.stop();
    expect(seen).toEqual(['done=-1', 'writing=0']);
  });
});
