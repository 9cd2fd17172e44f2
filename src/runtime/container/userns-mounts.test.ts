// The bind sources of a container in a pod with its own user namespace, with the idmap seam faked:
// which sources get idmapped clones (CRI mounts, the pod's /etc files unless the container mounts
// those paths itself), which do not (image volumes), and the mappings a mount may carry.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { FakeIdmap, World } from '../test-fakes.js';
import type { IdMappings, SandboxFacts } from './container-config.js';
import { idmapBindSources } from './userns-mounts.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-userns-mounts-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const userns: IdMappings = { uids: [{ containerId: 0, hostId: 300000, length: 65536 }], gids: [{ containerId: 0, hostId: 300000, length: 65536 }] };

function facts(): SandboxFacts {
  return {
    id: 'p',
    name: 'p',
    namespace: 'n',
    uid: 'u',
    infraPid: 1,
    namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
    cgroupParent: '',
    hostname: 'p',
    hostsPath: '/pod/hosts',
    resolvConfPath: '/pod/resolv.conf',
    hostnamePath: '/pod/hostname',
    privileged: false,
    userns,
  };
}

describe('idmapped bind sources', () => {
  it("clone each host mount and the pod's files; image volumes and paths the container mounts itself are left alone", async () => {
    const idmap = new FakeIdmap(new World(dir));
    const clones = join(dir, 'clones');
    const out = await idmapBindSources(
      idmap,
      userns,
      [
        { containerPath: '/data', hostPath: '/host/data' },
        { containerPath: '/etc/hosts/', hostPath: '/host/my-hosts' },
        { containerPath: '/models', hostPath: '/vol/0', image: { image: 'models' } },
      ],
      facts(),
      clones,
    );
    expect(out.mounts.map((m) => [m.containerPath, m.hostPath])).toEqual([
      ['/data', join(clones, '0')],
      ['/etc/hosts/', join(clones, '1')],
      ['/models', '/vol/0'],
    ]);
    // The container's own /etc/hosts wins: the pod's hosts file is not cloned; the others are.
    expect(out.sandbox.hostsPath).toBe('/pod/hosts');
    expect(out.sandbox.hostnamePath).toBe(join(clones, 'hostname'));
    expect(out.sandbox.resolvConfPath).toBe(join(clones, 'resolv.conf'));
    expect([...idmap.clones.entries()].map(([t, c]) => [t, c.source, c.recursive])).toEqual([
      [join(clones, '0'), '/host/data', true],
      [join(clones, '1'), '/host/my-hosts', true],
      [join(clones, 'hostname'), '/pod/hostname', true],
      [join(clones, 'resolv.conf'), '/pod/resolv.conf', true],
    ]);
  });

  it("accept a mount carrying the pod's own mappings, refuse others naming both, and refuse shared propagation", async () => {
    const idmap = new FakeIdmap(new World(dir));
    const ok = await idmapBindSources(idmap, userns, [{ containerPath: '/data', hostPath: '/host/data', uidMappings: userns.uids, gidMappings: userns.gids }], facts(), join(dir, 'a'));
    expect(ok.mounts[0]).toEqual({ containerPath: '/data', hostPath: join(dir, 'a', '0') });
    const uidsOnly = idmapBindSources(idmap, userns, [{ containerPath: '/data', hostPath: '/h', uidMappings: userns.uids }], facts(), join(dir, 'b'));
    await expect(uidsOnly).rejects.toThrow(new InvalidArgumentError('mount "/data": uid/gid mappings (uids 0:300000:65536, gids ) differ from the pod\'s user namespace (uids 0:300000:65536, gids 0:300000:65536)'));
    const gidsOnly = idmapBindSources(idmap, userns, [{ containerPath: '/data', hostPath: '/h', gidMappings: userns.gids }], facts(), join(dir, 'c'));
    await expect(gidsOnly).rejects.toBeInstanceOf(InvalidArgumentError);
    const shared = idmapBindSources(idmap, userns, [{ containerPath: '/data', hostPath: '/h', propagation: 'PROPAGATION_BIDIRECTIONAL' }], facts(), join(dir, 'd'));
    await expect(shared).rejects.toThrow('mount "/data": propagation PROPAGATION_BIDIRECTIONAL is not supported in a pod with its own user namespace (only private)');
  });
});
