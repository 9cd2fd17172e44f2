// RuntimeReady on the kubelet's Status poll: the default handler's binary is looked up again only
// when a stat of the one found says it changed or went (removed, replaced, made non-executable).
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { RuntimeHandler, RuntimeHandlers } from './runtime-handlers.js';
import { RuntimeInfo } from './runtime-info.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-info-bin-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('looks the runtime binary up once while it stays, and again once it is removed, back or made non-executable', async () => {
  const binary = join(dir, 'runc');
  writeFileSync(binary, '#!/bin/sh\n');
  chmodSync(binary, 0o755);
  const runc: RuntimeHandler = { name: 'runc', path: binary, root: '/run/runc', systemdCgroup: false, binary, features: { recursiveReadOnlyMounts: true, userNamespaces: true } };
  let lookups = 0;
  const handlers = {
    get: () => runc,
    available: async () => {
      lookups++;
      // As findExecutable: a regular file with an execute bit.
      return existsSync(binary) && (statSync(binary).mode & 0o111) !== 0 ? binary : undefined;
    },
    list: () => [runc],
  } as unknown as RuntimeHandlers;
  const info = new RuntimeInfo({ handlers, cgroupDriver: 'cgroupfs', cniConfDirs: [join(dir, 'cni')], cniBinDirs: [join(dir, 'bin')], effectiveConfig: {}, hugetlb: async () => false });
  const ready = async (): Promise<boolean | undefined> => (await info.status(false)).conditions[0]?.status;

  expect(await ready()).toBe(true);
  expect(await ready()).toBe(true);
  expect(lookups).toBe(1);
  // Nothing changed: the very same answer (the Status handler then sends the bytes it sent last).
  const same = await info.status(false);
  expect(await info.status(false)).toBe(same);
  rmSync(binary);
  expect(await info.status(false)).not.toBe(same);
  expect(await ready()).toBe(false);
  expect(await ready()).toBe(false);
  expect(lookups).toBe(4); // nothing found: looked up on every call until it is back
  writeFileSync(binary, '#!/bin/sh\n');
  chmodSync(binary, 0o755);
  expect(await ready()).toBe(true);
  chmodSync(binary, 0o644);
  expect(await ready()).toBe(false);
});
