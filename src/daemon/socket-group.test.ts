import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applySocketGroup, resolveGroup } from './socket-group.js';

const dir = mkdtempSync('/tmp/nexcage-sockgroup-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('socket group', () => {
  it('takes a numeric gid as is and looks a name up in the group file', async () => {
    const groups = join(dir, 'group');
    writeFileSync(groups, 'root:x:0:\nnexcage:x:2375:alice\nbroken\n');
    expect(await resolveGroup('2375', groups)).toBe(2375);
    expect(await resolveGroup('nexcage', groups)).toBe(2375);
    expect(await resolveGroup('root', groups)).toBe(0);
    await expect(resolveGroup('nope', groups)).rejects.toThrow('socketGroup "nope": no such group in');
  });

  it('gives the file to the group, and leaves it alone when none is set', async () => {
    const f = join(dir, 'sock');
    writeFileSync(f, '');
    await applySocketGroup(f, '');
    expect(statSync(f).gid).toBe(process.getgid!());
    await applySocketGroup(f, '2375');
    expect(statSync(f).gid).toBe(2375);
  });
});
