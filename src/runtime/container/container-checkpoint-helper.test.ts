import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellQuote, startCheckpointHelper } from './container-checkpoint-helper.js';

// The helper with stand-in commands that record their order in a file.
let dir: string;
const step = (name: string, code = 0): string[] => ['/bin/sh', '-c', `echo ${name} >> "$0"; exit ${code}`, join(dir, 'steps')];
const steps = (): string[] => (existsSync(join(dir, 'steps')) ? readFileSync(join(dir, 'steps'), 'utf8').split('\n').filter(Boolean) : []);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-ckpt-helper-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the checkpoint helper', () => {
  it('pauses, dumps, waits for the daemon, then resumes', async () => {
    rmSync(join(dir, 'steps'), { force: true });
    const h = startCheckpointHelper({ pause: step('pause'), checkpoint: step('dump', 3), resume: step('resume') }, join(dir, 'out'));
    expect(await h.dumped).toEqual({ paused: true, exitCode: 3 });
    expect(steps()).toEqual(['pause', 'dump']); // still paused while the daemon works
    await h.finish();
    expect(steps()).toEqual(['pause', 'dump', 'resume']);
    // Finishing again (an error path after the resume) resumes nothing more; killing the ended helper is harmless.
    await h.finish();
    h.kill();
    expect(steps()).toEqual(['pause', 'dump', 'resume']);
  });

  it('does nothing more when the pause fails', async () => {
    rmSync(join(dir, 'steps'), { force: true });
    const h = startCheckpointHelper({ pause: step('pause', 1), checkpoint: step('dump'), resume: step('resume') }, join(dir, 'out'));
    expect(await h.dumped).toEqual({ paused: false });
    await h.finish();
    expect(steps()).toEqual(['pause']);
  });

  it('is killed with what it runs (a timeout), resuming nothing', async () => {
    rmSync(join(dir, 'steps'), { force: true });
    const h = startCheckpointHelper({ pause: step('pause'), checkpoint: ['/bin/sleep', '30'], resume: step('resume') }, join(dir, 'out'));
    await new Promise((r) => setTimeout(r, 200));
    h.kill();
    await expect(h.dumped).rejects.toThrow('ended before the dump did');
    expect(steps()).toEqual(['pause']);
  });

  it('quotes arguments for the shell exactly', () => {
    expect(shellQuote(['a b', "it's", '$HOME', ''])).toBe(`'a b' 'it'\\''s' '$HOME' ''`);
  });
});
