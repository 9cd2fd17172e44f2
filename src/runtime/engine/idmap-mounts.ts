// Idmapped mounts for user-namespaced pods, made by the native helper (native/nexcage-idmap.c):
// Node cannot call open_tree/mount_setattr/move_mount, and runc 1.1 cannot idmap mounts itself.
// A pod's image layers and bind sources get idmapped clones (files owned by host root show as the
// pod's root inside), so snapshots stay shared with every other pod and nothing is chowned.
import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FailedPreconditionError } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { findNativeHelper } from '../../lib/native-helpers.js';
import type { IdMapping, IdMappings } from '../container/container-config.js';
import { unmountAll } from '../container/container-rootfs.js';

export interface IdmapPair {
  source: string;
  /** Created like the source (directory or empty file) when missing. */
  target: string;
}

/** The seam the sandbox and container steps use (faked in unit tests). */
export interface IdmapMounts {
  /** Attach an idmapped clone of each source at its target; all or nothing. `recursive`: submounts too (rbind). */
  bind(mappings: IdMappings, pairs: readonly IdmapPair[], recursive: boolean): Promise<void>;
  /** Unmount everything at or below `dir` (the clones and what was built on them). */
  unmount(dir: string): Promise<void>;
}


export function mappingArgs(m: IdMappings): string[] {
  const line = (r: IdMapping): string => `${r.containerId}:${r.hostId}:${r.length}`;
  return [...m.uids.flatMap((r) => ['--uid-map', line(r)]), ...m.gids.flatMap((r) => ['--gid-map', line(r)])];
}

export class NativeIdmap implements IdmapMounts {
  constructor(private readonly helper = findNativeHelper('nexcage-idmap')) {}

  async bind(mappings: IdMappings, pairs: readonly IdmapPair[], recursive: boolean): Promise<void> {
    if (pairs.length === 0) return;
    for (const p of pairs) await makeTargetLike(p.source, p.target);
    const res = await run(this.helper, ['mount', ...(recursive ? ['-r'] : []), ...mappingArgs(mappings), ...pairs.flatMap((p) => [p.source, p.target])], {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    if (res.exitCode !== 0) throw new FailedPreconditionError(`idmapped mount failed: ${res.stderr.trim() || `${this.helper} exited with ${res.exitCode}`}`);
  }

  async unmount(dir: string): Promise<void> {
    await unmountAll(dir);
  }

  /** Why idmapped mounts cannot be made on the filesystems of `paths` ([] when they can). */
  async check(paths: readonly string[]): Promise<string[]> {
    if (!existsSync(this.helper)) return [`the helper ${this.helper} is missing (make build)`];
    const probe: IdMappings = { uids: [{ containerId: 0, hostId: 65536, length: 65536 }], gids: [{ containerId: 0, hostId: 65536, length: 65536 }] };
    const res = await run(this.helper, ['check', ...mappingArgs(probe), ...paths], { allowFailure: true, timeoutMs: 10_000 });
    if (res.exitCode === 0) return [];
    return res.stderr.trim().split('\n').filter((l) => l !== '');
  }
}

/** An empty file or directory at `target`, whichever `source` is (a bind needs the same kind). */
async function makeTargetLike(source: string, target: string): Promise<void> {
  const st = await stat(source).catch(() => undefined);
  if (!st) throw new FailedPreconditionError(`idmapped mount: source "${source}" does not exist`);
  await mkdir(st.isDirectory() ? target : dirname(target), { recursive: true, mode: 0o755 });
  if (!st.isDirectory() && !existsSync(target)) await writeFile(target, '', { mode: 0o644 });
}
