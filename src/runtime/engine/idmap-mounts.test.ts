// NativeIdmap against a stand-in helper (a shell script): the targets it prepares (a bind needs a
// target of the source's kind), the argv (mappings, -r, source/target pairs) and what a failure
// of the helper says. The real helper is run by the e2e userns tests.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError } from '../../lib/errors.js';
import type { IdMappings } from '../container/container-config.js';
import { findNativeHelper } from '../../lib/native-helpers.js';
import { NativeIdmap, mappingArgs } from './idmap-mounts.js';

let dir: string;
const userns: IdMappings = {
  uids: [
    { containerId: 0, hostId: 100000, length: 1000 },
    { containerId: 1000, hostId: 200000, length: 1 },
  ],
  gids: [{ containerId: 0, hostId: 100000, length: 65536 }],
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-idmap-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A helper that records its argv and runs `script`. */
function helper(script: string): NativeIdmap {
  const path = join(dir, 'nexcage-idmap');
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/argv"\n${script}\n`);
  chmodSync(path, 0o755);
  return new NativeIdmap(path);
}

function argv(): string[] {
  return readFileSync(join(dir, 'argv'), 'utf8').trimEnd().split('\n');
}

describe('idmapped mounts through the native helper', () => {
  it('map every uid and gid range as container:host:length', () => {
    expect(mappingArgs(userns)).toEqual(['--uid-map', '0:100000:1000', '--uid-map', '1000:200000:1', '--gid-map', '0:100000:65536']);
  });

  it('prepare a target of the kind of each source, then mount all pairs in one helper call', async () => {
    mkdirSync(join(dir, 'layer'));
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
    const pairs = [
      { source: join(dir, 'layer'), target: join(dir, 'clones', '0') },
      { source: join(dir, 'hosts'), target: join(dir, 'clones', 'etc', 'hosts') },
    ];
    await helper('exit 0').bind(userns, pairs, true);
    expect(statSync(join(dir, 'clones', '0')).isDirectory()).toBe(true);
    expect(statSync(join(dir, 'clones', 'etc', 'hosts')).isFile()).toBe(true);
    // A file's target is an empty file for the clone to cover, never a copy of the source.
    expect(readFileSync(join(dir, 'clones', 'etc', 'hosts'), 'utf8')).toBe('');
    expect(argv()).toEqual(['mount', '-r', ...mappingArgs(userns), pairs[0]?.source, pairs[0]?.target, pairs[1]?.source, pairs[1]?.target]);

    await helper('exit 0').bind(userns, pairs.slice(0, 1), false);
    expect(argv()[1]).toBe('--uid-map');
  });

  it('do nothing for no pairs (the helper is not run)', async () => {
    await helper('exit 0').bind(userns, [], false);
    expect(existsSync(join(dir, 'argv'))).toBe(false);
  });

  it('refuse a source that does not exist, before running the helper', async () => {
    const err = await helper('exit 0')
      .bind(userns, [{ source: join(dir, 'gone'), target: join(dir, 't') }], false)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(`idmapped mount: source "${join(dir, 'gone')}" does not exist`);
    expect(existsSync(join(dir, 'argv'))).toBe(false);
  });

  it("fail with the helper's own words (FAILED_PRECONDITION), or its exit code when it says nothing", async () => {
    mkdirSync(join(dir, 'layer'));
    const pairs = [{ source: join(dir, 'layer'), target: join(dir, 'clone') }];
    const said = await helper('echo "mount_setattr: Invalid argument (filesystem cannot be idmapped)" >&2; exit 1')
      .bind(userns, pairs, false)
      .catch((e: unknown) => e);
    expect(said).toBeInstanceOf(FailedPreconditionError);
    expect((said as Error).message).toBe('idmapped mount failed: mount_setattr: Invalid argument (filesystem cannot be idmapped)');
    const silent = await helper('exit 3')
      .bind(userns, pairs, false)
      .catch((e: unknown) => e);
    expect((silent as Error).message).toBe(`idmapped mount failed: ${join(dir, 'nexcage-idmap')} exited with 3`);
  });

  it('check: nothing to say when the filesystems can be idmapped, else one reason per line', async () => {
    expect(await helper('exit 0').check(['/a', '/b'])).toEqual([]);
    expect(argv()).toEqual(['check', '--uid-map', '0:65536:65536', '--gid-map', '0:65536:65536', '/a', '/b']);
    expect(await helper('printf "/a: tmpfs cannot be idmapped\\n\\n/b: no\\n" >&2; exit 1').check(['/a', '/b'])).toEqual(['/a: tmpfs cannot be idmapped', '/b: no']);
  });

  it('check: a missing helper says to build it', async () => {
    expect(await new NativeIdmap(join(dir, 'missing')).check(['/a'])).toEqual([`the helper ${join(dir, 'missing')} is missing (make build)`]);
  });

  it('the helper is found beside the build', () => {
    expect(findNativeHelper('nexcage-idmap')).toMatch(/\/native\/nexcage-idmap$/);
  });
});
