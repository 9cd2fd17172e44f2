// RunPodSandbox / Stop / Remove of pods with their own user namespace, with fakes at every seam:
// the order of the steps (idmapped infra rootfs, infra created, its netns pinned, CNI ADD, start),
// what a failure undoes, and the refusals (handler without user namespaces, overlapping ranges).
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { testHost } from '../oci-spec/test-host.js';
import type { Spec } from '../oci-spec/types.js';
import { FakeExits, FakeIdmap, FakeInfra, FakeMonitor, FakeNetns, FakeNetwork, FakeRuntime, FakeShm, World, fakeHandlers } from '../test-fakes.js';
import type { SandboxConfig } from './sandbox-config.js';
import { SandboxManager } from './sandbox-manager.js';

const dirs: string[] = [];
const managers: SandboxManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function world(usernsHandler = true) {
  const root = mkdtempSync(join(tmpdir(), 'nexcage-sbx-userns-'));
  dirs.push(root);
  const w = new World(root);
  const runtime = new FakeRuntime(w);
  const handlers = fakeHandlers(runtime);
  handlers.get('runc').features.userNamespaces = usernsHandler;
  if (!usernsHandler) handlers.get('runc').usernsUnsupported = 'kernel 5.10 cannot idmap overlayfs layers';
  const parts = { w, runtime, network: new FakeNetwork(w), netns: new FakeNetns(w), shm: new FakeShm(w), idmap: new FakeIdmap(w), exits: new FakeExits(w) };
  const m = new SandboxManager({
    rootDir: join(root, 'root'),
    stateDir: join(root, 'state'),
    handlers,
    runtimeFor: handlers.runtimeFor,
    monitor: new FakeMonitor(w),
    exits: parts.exits,
    network: parts.network,
    netns: parts.netns,
    host: testHost(),
    infra: new FakeInfra(w),
    log: silentLogger(),
    stopTimeoutMs: 200,
    cgroupLayout: { version: 1, controllers: {} },
    shm: parts.shm,
    idmap: parts.idmap,
  });
  m.setContainerHooks({ stopAll: async () => {}, removeAll: async () => {} });
  managers.push(m);
  return { ...parts, root, m };
}

let n = 0;
function podConfig(hostId: number, extra: Partial<SandboxConfig> = {}): SandboxConfig {
  const name = `upod${++n}`;
  const ids = [{ containerId: 0, hostId, length: 65536 }];
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'unit', attempt: 0 },
    hostname: name,
    logDirectory: '',
    portMappings: [],
    labels: {},
    annotations: {},
    cgroupParent: '/nexcage-unit',
    sysctls: {},
    namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'POD', userns: { mode: 'POD', uids: ids, gids: ids } },
    security: { privileged: false, supplementalGroups: [], readonlyRootfs: true },
    ...extra,
  };
}

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
}

describe('RunPodSandbox with its own user namespace', () => {
  it('idmaps the infra rootfs, creates the infra, pins its netns, runs CNI ADD, then starts it', async () => {
    const x = world();
    await x.m.recover();
    const s = await x.m.run(podConfig(100000), '');
    const id = s.id.slice(0, 6);
    const pid = x.runtime.containers.get(s.id)?.pid;
    expect(x.w.callsOf('idmap.', 'shm.mount', 'monitor.start', 'netns.create', 'network.setUp', 'runtime.start')).toEqual([
      'shm.mount',
      'idmap.bind 1',
      `monitor.start ${id}`,
      `netns.create ${id} from /proc/${pid}/ns/net`,
      `network.setUp ${id}`,
      `runtime.start ${id}`,
    ]);
    expect(s).toMatchObject({ state: 'READY', netnsPath: x.netns.pathFor(s.id), ips: [expect.stringMatching(/^10\.88\.0\./)] });
    const rootfs = join(s.bundle, 'rootfs');
    expect(x.idmap.clones.get(rootfs)).toEqual({ source: join(x.root, 'infra'), mappings: { uids: [{ containerId: 0, hostId: 100000, length: 65536 }], gids: [{ containerId: 0, hostId: 100000, length: 65536 }] }, recursive: false });
    const spec = JSON.parse(readFileSync(join(s.bundle, 'config.json'), 'utf8')) as Spec;
    expect(spec.root?.path).toBe(rootfs);
    expect(spec.linux?.namespaces).toContainEqual({ type: 'user' });
    expect(spec.linux?.namespaces).toContainEqual({ type: 'network' });
    expect(spec.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    // The pod's root (its group) may walk into the bundle, nobody else.
    const st = statSync(s.bundle);
    expect({ mode: st.mode & 0o777, uid: st.uid, gid: st.gid }).toEqual({ mode: 0o710, uid: 0, gid: 100000 });
    expect(statSync(join(x.root, 'state', 'sandboxes')).mode & 0o777).toBe(0o711);
  });

  it('a failed CNI ADD undoes DEL, the pinned netns, the infra and the idmapped rootfs', async () => {
    const x = world();
    await x.m.recover();
    x.w.faults.fail('network.setUp');
    await expect(x.m.run(podConfig(100000), '')).rejects.toThrow('network.setUp failed (injected)');
    expect(x.w.callsOf('network.tearDown', 'netns.remove', 'runtime.delete', 'idmap.unmount').map((c) => c.split(' ')[0])).toEqual(['network.tearDown', 'netns.remove', 'runtime.delete', 'idmap.unmount']);
    expect(x.idmap.clones.size).toBe(0);
    expect(x.runtime.containers.size).toBe(0);
    expect(x.network.up.size).toBe(0);
    expect(x.shm.mounted.size).toBe(0);
    expect(await x.netns.list()).toEqual([]);
  });

  it('stop unmounts the idmapped infra rootfs after the infra is gone; remove leaves nothing', async () => {
    const x = world();
    await x.m.recover();
    const s = await x.m.run(podConfig(100000), '');
    x.runtime.onKill = (cid) => x.exits.write(cid, 137);
    x.w.calls.length = 0;
    await x.m.stop(s.id);
    expect(x.w.callsOf('runtime.delete', 'idmap.unmount').map((c) => c.split(' ')[0])).toEqual(['runtime.delete', 'idmap.unmount']);
    expect(x.idmap.clones.size).toBe(0);
    await x.m.remove(s.id);
    expect(existsSync(s.bundle)).toBe(false);
  });
});

describe('refusals', () => {
  it('on a handler without user namespaces, naming the field and why', async () => {
    const x = world(false);
    await x.m.recover();
    const err = await refusal(x.m.run(podConfig(100000), ''));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toBe('namespace_options.userns_options: runtime handler "runc" does not support user namespaces (kernel 5.10 cannot idmap overlayfs layers)');
    expect(x.w.callsOf('shm.', 'idmap.', 'netns.', 'monitor.')).toEqual([]);
  });

  it('a range overlapping a live pod (or one being created), until that pod is stopped', async () => {
    const x = world();
    await x.m.recover();
    x.runtime.onKill = (cid) => x.exits.write(cid, 137);
    const first = x.m.run(podConfig(100000), '');
    // Still being created: its range is taken already.
    const err = await refusal(x.m.run(podConfig(165535), ''));
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect(err.message).toMatch(/namespace_options\.userns_options host ids \(uids 0:165535:65536, gids 0:165535:65536\) overlap those of running pod sandbox [0-9a-f]{13} \(being created\)/);
    const s = await first;
    expect((await refusal(x.m.run(podConfig(100000 - 65535), ''))).message).toMatch(new RegExp(`overlap those of running pod sandbox unit/${s.metadata.name} \\(${s.id.slice(0, 13)}\\)`));
    // Neighbouring ranges are fine.
    const next = await x.m.run(podConfig(165536), '');
    expect(next.state).toBe('READY');
    await x.m.stop(s.id);
    const again = await x.m.run(podConfig(100000), '');
    expect(again.state).toBe('READY');
  });
});
