import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probeUsernsSupport, unsearchableAncestor } from './userns-support.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A node under a temp dir: /proc/sys/user/max_user_namespaces and a state dir searchable by all. */
function node(maxUserns = '15000') {
  const root = mkdtempSync(join(tmpdir(), 'nexcage-userns-'));
  dirs.push(root);
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'proc/sys/user'), { recursive: true });
  writeFileSync(join(root, 'proc/sys/user/max_user_namespaces'), `${maxUserns}\n`);
  const stateDir = join(root, 'run/nexcage');
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  chmodSync(join(root, 'run'), 0o755);
  const checked: string[][] = [];
  const opts = { kernelRelease: '6.18.44', rootDir: join(root, 'var/lib/nexcage'), stateDir, root, idmapCheck: async (p: readonly string[]) => (checked.push([...p]), [] as string[]) };
  return { root, stateDir, checked, opts };
}

describe('probeUsernsSupport', () => {
  it('finds a capable host: new kernel, user namespaces on, state dir reachable, idmap working on both dirs', async () => {
    const n = node();
    expect(await probeUsernsSupport(n.opts)).toBeUndefined();
    expect(n.checked).toEqual([[n.opts.rootDir, n.stateDir]]);
  });

  it('says why not: old kernel, user namespaces off, a closed directory above the state dir, idmap failing', async () => {
    let n = node();
    expect(await probeUsernsSupport({ ...n.opts, kernelRelease: '5.15.0-91-generic' })).toBe('kernel 5.15.0-91-generic cannot idmap overlayfs layers (5.19 or newer is needed)');
    n = node('0');
    expect(await probeUsernsSupport(n.opts)).toMatch(/^user namespaces are disabled/);
    n = node();
    chmodSync(join(n.root, 'run'), 0o700);
    expect(await probeUsernsSupport(n.opts)).toBe(`the state dir ${n.stateDir} cannot be reached by a pod's root: ${join(n.root, 'run')} (mode 0700) is not searchable by other users (chmod o+x)`);
    n = node();
    const failing = { ...n.opts, idmapCheck: async () => [`${n.stateDir}: mount_setattr(MOUNT_ATTR_IDMAP): Invalid argument`] };
    expect(await probeUsernsSupport(failing)).toBe(`idmapped mounts do not work here: ${n.stateDir}: mount_setattr(MOUNT_ATTR_IDMAP): Invalid argument`);
  });

  it('walks from / down, stopping at the first directory others cannot search', async () => {
    const n = node();
    expect(await unsearchableAncestor(n.stateDir)).toBeUndefined();
    chmodSync(n.stateDir, 0o700);
    expect(await unsearchableAncestor(n.stateDir)).toEqual({ path: n.stateDir, mode: 0o700 });
    expect(await unsearchableAncestor(join(n.stateDir, 'missing'))).toEqual({ path: n.stateDir, mode: 0o700 });
  });
});
