// CreateContainer / Remove in a pod with its own user namespace, with fakes at every seam: the
// overlay on idmapped layer clones with the upper dir owned by the pod's root, idmapped bind
// sources under the bundle, the spec joining the pod's user namespace, and what a failure undoes.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { testHost } from '../oci-spec/test-host.js';
import type { Spec } from '../oci-spec/types.js';
import type { Sandbox } from '../sandbox/sandbox-config.js';
import { FakeExits, FakeIdmap, FakeImages, FakeMonitor, FakeMounts, FakeRuntime, World, fakeHandlers } from '../test-fakes.js';
import { containerPod, onePod } from '../test-container-world.js';
import type { ContainerConfig, ContainerMount, IdMappings } from './container-config.js';
import { ContainerManager } from './container-manager.js';

const dirs: string[] = [];
const managers: ContainerManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const HOST_ID = 200000;
const userns: IdMappings = { uids: [{ containerId: 0, hostId: HOST_ID, length: 65536 }], gids: [{ containerId: 0, hostId: HOST_ID, length: 65536 }] };

function pod(root: string): Sandbox {
  return containerPod(root, {
    id: 'b'.repeat(64),
    namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'POD', userns: { mode: 'POD', ...userns } },
    readonlyRootfs: true,
    hostname: 'p',
    shmPath: join(root, 'state', 'sandboxes', 'p', 'shm'),
  });
}

function world() {
  const root = mkdtempSync(join(tmpdir(), 'nexcage-ctr-userns-'));
  dirs.push(root);
  const w = new World(root);
  const runtime = new FakeRuntime(w);
  const handlers = fakeHandlers(runtime);
  const images = new FakeImages(w);
  images.addImage('busybox', { Cmd: ['sh'] });
  images.addImage('volume');
  const sandbox = pod(root);
  const mounts = new FakeMounts(w);
  const idmap = new FakeIdmap(w, mounts.mounted);
  const m = new ContainerManager({
    rootDir: join(root, 'root'),
    stateDir: join(root, 'state'),
    handlers,
    runtimeFor: handlers.runtimeFor,
    monitor: new FakeMonitor(w),
    exits: new FakeExits(w),
    sandboxes: onePod(() => sandbox),
    images,
    host: testHost(),
    cgroupDriver: 'cgroupfs',
    cgroupLayout: undefined,
    events: { publish: () => {} },
    log: silentLogger(),
    killWaitMs: 100,
    mounts,
    idmap,
  });
  managers.push(m);
  return { w, root, runtime, images, sandbox, mounts, idmap, m };
}

let n = 0;
function ctr(extra: Partial<ContainerConfig> = {}): ContainerConfig {
  const name = `u${++n}`;
  return { metadata: { name, attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '1000'], logPath: `${name}.log`, ...extra };
}

describe('CreateContainer in a pod with its own user namespace', () => {
  it('stacks the overlay on idmapped layer clones, the upper dir the pod root\'s, binds idmapped clones', async () => {
    const x = world();
    await x.m.recover();
    const data = join(x.root, 'emptydir');
    mkdirSync(data);
    const c = await x.m.create(x.sandbox.id, ctr({ mounts: [{ containerPath: '/data', hostPath: data, uidMappings: userns.uids, gidMappings: userns.gids }] }));
    expect(x.w.callsOf('idmap.', 'mounts.', 'monitor.start')).toEqual(['idmap.bind 1', 'mounts.rootfs', 'idmap.unmount 1', 'idmap.bind 4 -r', `monitor.start ${c.id.slice(0, 6)}`]);
    expect(x.mounts.rootfs.get(c.rootfs)).toEqual({ layers: [join(c.bundle, 'layers', '0')], owner: { uid: HOST_ID, gid: HOST_ID } });
    expect(c.userns).toEqual(userns);
    const spec = JSON.parse(readFileSync(join(c.bundle, 'config.json'), 'utf8')) as Spec;
    expect(spec.linux?.namespaces).toContainEqual({ type: 'user', path: '/proc/4242/ns/user' });
    expect(spec.linux?.gidMappings).toEqual([{ containerID: 0, hostID: HOST_ID, size: 65536 }]);
    const source = (dest: string): string | undefined => spec.mounts?.find((m) => m.destination === dest)?.source;
    expect(source('/data')).toBe(join(c.bundle, 'mounts', '0'));
    expect(source('/etc/hosts')).toBe(join(c.bundle, 'mounts', 'hosts'));
    expect(source('/etc/resolv.conf')).toBe(join(c.bundle, 'mounts', 'resolv.conf'));
    // The pod's /dev/shm is already its root's: bound as it is.
    expect(source('/dev/shm')).toBe(x.sandbox.shmPath);
    expect(x.idmap.clones.get(join(c.bundle, 'mounts', '0'))).toEqual({ source: data, mappings: userns, recursive: true });
    // ContainerStatus reports the mount as asked.
    expect(c.mounts[0]?.hostPath).toBe(data);
    const st = statSync(c.bundle);
    expect({ mode: st.mode & 0o777, gid: st.gid }).toEqual({ mode: 0o710, gid: HOST_ID });
  });

  it('puts an image volume on idmapped clones of its layers, bound as it is', async () => {
    const x = world();
    await x.m.recover();
    const volume: ContainerMount = { containerPath: '/img', hostPath: '', readonly: true, image: { image: 'volume' } };
    const c = await x.m.create(x.sandbox.id, ctr({ mounts: [volume] }));
    expect(x.w.callsOf('idmap.', 'mounts.')).toEqual(['idmap.bind 1', 'mounts.rootfs', 'idmap.unmount 1', 'idmap.bind 1', 'mounts.volume', 'idmap.unmount 1', 'idmap.bind 3 -r']);
    const spec = JSON.parse(readFileSync(join(c.bundle, 'config.json'), 'utf8')) as Spec;
    expect(spec.mounts?.find((m) => m.destination === '/img')?.source).toBe(join(c.bundle, 'volumes', '0'));
  });

  it('refuses a mount with other mappings or shared propagation, leaving nothing', async () => {
    const x = world();
    await x.m.recover();
    const other = [{ containerId: 0, hostId: 300000, length: 65536 }];
    const cases: [ContainerMount, RegExp][] = [
      [{ containerPath: '/d', hostPath: x.root, uidMappings: other, gidMappings: other }, /mount "\/d": uid\/gid mappings \(uids 0:300000:65536, gids 0:300000:65536\) differ from the pod's user namespace/],
      [{ containerPath: '/d', hostPath: x.root, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }, /propagation PROPAGATION_HOST_TO_CONTAINER is not supported in a pod with its own user namespace/],
    ];
    for (const [mount, msg] of cases) {
      const err = await x.m.create(x.sandbox.id, ctr({ mounts: [mount] })).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(msg);
    }
    expect([...x.mounts.mounted]).toEqual([]);
    expect(x.idmap.attached()).toEqual([]);
    expect(x.m.list()).toEqual([]);
  });

  it('a container that asks for the host user namespace in this pod is refused, and undone', async () => {
    const x = world();
    await x.m.recover();
    const cfg = ctr({ linux: { securityContext: { namespaceOptions: { userns: { mode: 'NODE', uids: [], gids: [] } } } } });
    await expect(x.m.create(x.sandbox.id, cfg)).rejects.toThrow(/namespace_options.userns_options: mode NODE, but the pod sandbox has its own user namespace/);
    expect([...x.mounts.mounted]).toEqual([]);
    expect(x.images.leased.size).toBe(0);
  });

  it('remove unmounts the rootfs and every idmapped clone under the bundle', async () => {
    const x = world();
    await x.m.recover();
    const c = await x.m.create(x.sandbox.id, ctr());
    expect(x.idmap.attached().length).toBe(3);
    await x.m.remove(c.id);
    expect([...x.mounts.mounted]).toEqual([]);
    expect(x.idmap.attached()).toEqual([]);
  });
});
