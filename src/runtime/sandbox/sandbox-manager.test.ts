import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { testHost } from '../oci-spec/test-host.js';
import { FakeExits, FakeInfra, FakeMonitor, FakeNetns, FakeNetwork, FakeRuntime, FakeShm, World, fakeHandlers, until } from '../test-fakes.js';
import type { Sandbox, SandboxConfig } from './sandbox-config.js';
import type { SandboxManagerOptions } from './sandbox-deps.js';
import { SandboxManager } from './sandbox-manager.js';

const dirs: string[] = [];
const managers: SandboxManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function world(dir?: string) {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'nexcage-sbx-'));
  if (!dir) dirs.push(root);
  const w = new World(root);
  const runtime = new FakeRuntime(w);
  const handlers = fakeHandlers(runtime);
  const parts = {
    w,
    runtime,
    monitor: new FakeMonitor(w),
    exits: new FakeExits(w),
    network: new FakeNetwork(w),
    netns: new FakeNetns(w),
    shm: new FakeShm(w),
    infra: new FakeInfra(w),
    events: [] as string[],
    stopped: [] as string[],
    removed: [] as string[],
  };
  const make = (extra: Partial<SandboxManagerOptions> = {}): SandboxManager => {
    const m = new SandboxManager({
      rootDir: join(root, 'root'),
      stateDir: join(root, 'state'),
      handlers,
      runtimeFor: handlers.runtimeFor,
      monitor: parts.monitor,
      exits: parts.exits,
      network: parts.network,
      netns: parts.netns,
      host: testHost(),
      infra: parts.infra,
      log: silentLogger(),
      stopTimeoutMs: 200,
      cgroupLayout: { version: 1, controllers: {} },
      shm: parts.shm,
      ...extra,
    });
    m.setContainerHooks({
      stopAll: async (id) => {
        w.calls.push(`containers.stopAll ${id.slice(0, 6)}`);
        parts.stopped.push(id);
      },
      removeAll: async (id) => {
        w.calls.push(`containers.removeAll ${id.slice(0, 6)}`);
        parts.removed.push(id);
      },
      sandboxEvent: (s, type) => parts.events.push(`${type} ${s.id.slice(0, 6)}`),
    });
    managers.push(m);
    return m;
  };
  return { ...parts, root, make };
}

let n = 0;
function podConfig(extra: Partial<SandboxConfig> = {}): SandboxConfig {
  const name = `pod${++n}`;
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'unit', attempt: 0 },
    hostname: name,
    logDirectory: '',
    portMappings: [],
    labels: { app: name },
    annotations: {},
    cgroupParent: '/nexcage-unit',
    sysctls: {},
    namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'POD' },
    security: { privileged: false, supplementalGroups: [], readonlyRootfs: true },
    ...extra,
  };
}

/** Everything a pod can leave on the node, as the fakes see it. */
function leftovers(x: ReturnType<typeof world>, id: string): string[] {
  const out: string[] = [];
  if (existsSync(join(x.root, 'root', 'sandboxes', id))) out.push('record dir');
  if (existsSync(join(x.root, 'state', 'sandboxes', id))) out.push('bundle');
  if (existsSync(x.netns.pathFor(id))) out.push('netns');
  if (x.network.up.has(id)) out.push('network');
  if (x.runtime.containers.has(id)) out.push('infra');
  if ([...x.shm.mounted].some((p) => p.includes(id))) out.push('shm');
  return out;
}

function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

function record(x: ReturnType<typeof world>, id: string): Sandbox {
  return JSON.parse(readFileSync(join(x.root, 'root', 'sandboxes', id, 'sandbox.json'), 'utf8')) as Sandbox;
}

describe('SandboxManager.run', () => {
  it('builds a READY pod step by step and persists it', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const s = await m.run(podConfig(), '');
    expect(s.state).toBe('READY');
    expect(s.ips).toEqual(['10.88.0.2']);
    expect(s.runtimeHandler).toBe('runc');
    // /dev/shm and the netns side by side, then CNI ADD next to conmon + runc create/start.
    const calls = x.w.callsOf('infra.', 'netns.', 'network.', 'shm.', 'monitor.', 'runtime.create', 'runtime.start');
    expect(calls[0]).toBe('infra.get');
    expect(calls.slice(1, 3).sort()).toEqual([`netns.create ${s.id.slice(0, 6)}`, 'shm.mount']);
    expect(calls.slice(3).sort()).toEqual([`monitor.start ${s.id.slice(0, 6)}`, `network.setUp ${s.id.slice(0, 6)}`, `runtime.create ${s.id.slice(0, 6)}`, `runtime.start ${s.id.slice(0, 6)}`]);
    expect(calls.slice(3).filter((c) => !c.startsWith('network.'))).toEqual([`monitor.start ${s.id.slice(0, 6)}`, `runtime.create ${s.id.slice(0, 6)}`, `runtime.start ${s.id.slice(0, 6)}`]);
    expect(record(x, s.id)).toMatchObject({ id: s.id, state: 'READY', networkDown: false, netnsPath: x.netns.pathFor(s.id) });
    expect(readFileSync(join(x.root, 'root', 'sandboxes', s.id, 'hostname'), 'utf8')).toBe(`${s.config.hostname}\n`);
    expect(m.list().map((p) => p.id)).toEqual([s.id]);
    expect(m.get(s.id.slice(0, 8)).id).toBe(s.id);
    expect(x.events).toEqual([`CREATED ${s.id.slice(0, 6)}`, `STARTED ${s.id.slice(0, 6)}`]);
    expect(m.listSandboxes()[0]).toMatchObject({ id: s.id, ready: true, netnsPath: x.netns.pathFor(s.id) });
    expect(m.getSandbox(s.id)?.id).toBe(s.id);
    expect(m.getSandbox('nope')).toBeUndefined();
  });

  it('passes DNS, security, log directory and pod resources through to the files and the infra spec', async () => {
    const x = world();
    const m = x.make();
    const s = await m.run(
      podConfig({
        dns: { servers: ['10.0.0.10'], searches: ['svc.local'], options: ['ndots:5'] },
        logDirectory: join(x.root, 'logs'),
        security: { privileged: false, supplementalGroups: [5], readonlyRootfs: true, runAsUser: 1000, runAsGroup: 1000, seccomp: { profileType: 'RuntimeDefault' }, apparmor: { profileType: 'Unconfined' } },
        resources: { memoryLimitInBytes: 1 << 27 },
        overhead: { cpuShares: 10 },
      }),
      '',
    );
    expect(readFileSync(s.resolvConfPath, 'utf8')).toBe('search svc.local\nnameserver 10.0.0.10\noptions ndots:5\n');
    expect(await m.infraSpec(s.id)).toMatchObject({ process: { user: { uid: 1000, gid: 1000 } } });
  });

  it('starts the infra while CNI ADD runs, and is READY with the IP only once both are done', async () => {
    const x = world();
    const m = x.make();
    const setUp = x.network.setUp.bind(x.network);
    // ADD finishes only after the infra started: run one after the other, this never returns.
    x.network.setUp = async (req) => {
      await until('the infra started during CNI ADD', () => x.w.calls.some((c) => c.startsWith('runtime.start')), 2_000);
      return setUp(req);
    };
    const s = await m.run(podConfig(), '');
    expect(s.state).toBe('READY');
    expect(s.ips).toEqual([x.network.up.get(s.id)]);
  });

  it('runs a host-network, host-IPC pod without netns, CNI or shm', async () => {
    const x = world();
    const m = x.make();
    const s = await m.run(podConfig({ namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'NODE' } }), 'runc');
    expect(s.netnsPath).toBeUndefined();
    expect(s.shmPath).toBeUndefined();
    expect(x.w.callsOf('netns.', 'network.', 'shm.')).toEqual([]);
    await m.stop(s.id);
    expect(x.w.callsOf('network.', 'netns.')).toEqual([]);
  });

  it.each([
    ['infra.get', []],
    ['netns.create', ['shm.unmount']],
    // The infra starts alongside CNI ADD: it is undone too.
    ['network.setUp', ['exits.remove', 'monitor.cleanup', 'runtime.delete', 'network.tearDown', 'netns.remove', 'shm.unmount']],
    ['shm.mount', ['network.tearDown', 'netns.remove']],
    ['monitor.start', ['exits.remove', 'monitor.cleanup', 'runtime.delete', 'network.tearDown', 'netns.remove', 'shm.unmount']],
    ['runtime.create', ['exits.remove', 'monitor.cleanup', 'runtime.delete', 'network.tearDown', 'netns.remove', 'shm.unmount']],
    ['runtime.start', ['exits.remove', 'monitor.cleanup', 'runtime.delete', 'network.tearDown', 'netns.remove', 'shm.unmount']],
  ])('a failure at %s undoes every finished step, newest first, and frees the name', async (step, undone) => {
    const x = world();
    const m = x.make();
    const config = podConfig();
    x.w.faults.fail(step);
    const mark = x.w.calls.length;
    await expect(m.run(config, '')).rejects.toThrow(`${step} failed (injected)`);
    const after = x.w.calls.slice(mark);
    const undoCalls = after.slice(after.findIndex((c) => c.startsWith(step)) + 1).map((c) => c.split(' ')[0]!);
    // shm and netns, then CNI ADD and the infra run side by side: compare the undo calls as a set
    // where their order is free, without the steps still going on next to the failed one.
    const forward = ['network.setUp', 'netns.create', 'shm.mount', 'monitor.start', 'runtime.create', 'runtime.start', 'runtime.state'];
    expect(undoCalls.filter((c) => !forward.includes(c)).sort()).toEqual([...undone].sort());
    expect(undoCalls.indexOf('runtime.delete')).toBeLessThanOrEqual(Math.max(undoCalls.indexOf('network.tearDown'), 0) || 99);
    expect(m.list()).toEqual([]);
    expect(entries(join(x.root, 'root', 'sandboxes'))).toEqual([]);
    expect(entries(join(x.root, 'state', 'sandboxes'))).toEqual([]);
    expect(entries(x.netns.dir)).toEqual([]);
    expect(x.network.up.size).toBe(0);
    expect(x.runtime.containers.size).toBe(0);
    expect(x.shm.mounted.size).toBe(0);
    // The name is free again: the same request now succeeds.
    expect((await m.run(config, '')).state).toBe('READY');
  });

  it('keeps a pod whose CNI DEL failed during the undo as UNKNOWN with its netns and name; Stop finishes the cleanup, Remove forgets it', async () => {
    const x = world();
    const m = x.make({ cleanupRetry: { initialMs: 60_000, maxMs: 60_000 } });
    await m.recover();
    const config = podConfig();
    x.w.faults.fail('runtime.start', new Error('runc start failed'));
    x.w.faults.fail('network.tearDown', new Error('plugin bridge: DEL failed'));
    await expect(m.run(config, '')).rejects.toThrow('runc start failed');
    const [kept] = m.list();
    expect(kept).toBeDefined();
    const id = kept!.id;
    expect(kept).toMatchObject({ state: 'UNKNOWN', networkDown: false, netnsPath: x.netns.pathFor(id), pid: 0 });
    expect(kept!.cleanup?.reason).toMatch(/runc start failed.*CNI DEL: plugin bridge: DEL failed; not attempted: netns, bundle dir, record dir/);
    // What the undo promised: the infra and monitor files went, shm too; netns, network and dirs stay.
    expect(leftovers(x, id).sort()).toEqual(['bundle', 'netns', 'network', 'record dir']);
    expect(record(x, id).state).toBe('UNKNOWN');
    expect(m.list({ state: 'NOTREADY' }).map((s) => s.id)).toEqual([id]);
    expect(m.list({ state: 'READY' })).toEqual([]);
    expect(m.listSandboxes()[0]).toMatchObject({ ready: false });
    // The name stays reserved.
    await expect(m.run(config, '')).rejects.toThrow(/already exists as "/);

    await m.stop(id);
    expect(m.get(id)).toMatchObject({ state: 'NOTREADY', networkDown: true });
    expect(m.get(id).cleanup).toBeUndefined();
    expect(leftovers(x, id).sort()).toEqual(['bundle', 'record dir']);
    expect(x.events).toEqual([]);
    await m.remove(id);
    expect(leftovers(x, id)).toEqual([]);
    expect((await m.run(config, '')).state).toBe('READY');
  });

  it('retries the cleanup of an UNKNOWN pod in the background until it goes through', async () => {
    const x = world();
    const m = x.make({ cleanupRetry: { initialMs: 5, maxMs: 20 } });
    x.w.faults.fail('monitor.start');
    x.w.faults.fail('network.tearDown', new Error('DEL failed'), 3);
    await expect(m.run(podConfig(), '')).rejects.toThrow('monitor.start failed');
    const id = m.list()[0]!.id;
    await until('the background retry to finish the cleanup', () => m.get(id).state === 'NOTREADY');
    expect(x.w.callsOf('network.tearDown').length).toBe(4);
    expect(leftovers(x, id).sort()).toEqual(['bundle', 'record dir']);
  });

  it('keeps an UNKNOWN pod across a restart and finishes its cleanup with Remove', async () => {
    const x = world();
    const m = x.make({ cleanupRetry: { initialMs: 60_000, maxMs: 60_000 } });
    x.w.faults.fail('runtime.start');
    x.w.faults.fail('netns.remove');
    await expect(m.run(podConfig(), '')).rejects.toThrow('runtime.start failed');
    const id = m.list()[0]!.id;
    // DEL went through, the netns removal did not: the network is down, the netns is left.
    expect(m.get(id)).toMatchObject({ state: 'UNKNOWN', networkDown: true, netnsPath: x.netns.pathFor(id) });
    await m.close();
    const again = x.make({ cleanupRetry: { initialMs: 60_000, maxMs: 60_000 } });
    await again.recover();
    expect(again.get(id).state).toBe('UNKNOWN');
    // Recovery's orphan sweep leaves the pod's netns alone: a record owns it.
    expect(existsSync(x.netns.pathFor(id))).toBe(true);
    await again.remove(id);
    expect(leftovers(x, id)).toEqual([]);
    expect(x.removed).toEqual([id]);
  });

  it('refuses bad requests with INVALID_ARGUMENT naming the field', async () => {
    const x = world();
    const m = x.make();
    const bad: [Partial<SandboxConfig>, RegExp][] = [
      [{ metadata: { name: '', uid: 'u', namespace: 'n', attempt: 0 } }, /metadata.name is required/],
      [{ metadata: { name: 'a', uid: 'u', namespace: '', attempt: 0 } }, /metadata.namespace is required/],
      [{ metadata: { name: 'a', uid: '', namespace: 'n', attempt: 0 } }, /metadata.uid is required/],
      [{ metadata: { name: 'a;b', uid: 'u', namespace: 'n', attempt: 0 } }, /metadata.name "a;b" contains ";"/],
      [{ namespaceOptions: { network: 'POD', pid: 'TARGET', ipc: 'POD' } }, /TARGET is only valid for containers/],
      [{ namespaceOptions: { network: 'CONTAINER', pid: 'POD', ipc: 'POD' } }, /must be POD or NODE/],
      [{ portMappings: [{ containerPort: 0, hostPort: 80, protocol: 'tcp', hostIP: '' }] }, /container_port 0 is out of range/],
      [{ portMappings: [{ containerPort: 80, hostPort: 70000, protocol: 'tcp', hostIP: '' }] }, /host_port 70000 is out of range/],
      [{ hostname: 'h'.repeat(65) }, /longer than 64 characters/],
      [{ sysctls: { 'kernel.hostname': 'x' } }, /not namespaced/],
    ];
    for (const [extra, msg] of bad) await expect(m.run(podConfig(extra), '')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(msg) });
    await expect(m.run(podConfig(), 'nope')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/runtime handler "nope"/) });
    await expect(m.run(podConfig(), 'gone')).rejects.toThrow(/binary missing/);
    expect(x.w.callsOf('netns.', 'infra.')).toEqual([]);
  });
});

describe('SandboxManager stop and remove', () => {
  it('stops in order: containers, infra (SIGKILL, exit), runtime record and CNI DEL, netns, shm, monitor files', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const s = await m.run(podConfig(), '');
    x.runtime.onKill = (id) => x.exits.write(id, 137, true);
    const mark = x.w.calls.length;
    await m.stop(s.id.slice(0, 10));
    const id = s.id.slice(0, 6);
    const calls = x.w.calls.slice(mark).filter((c) => !c.startsWith('runtime.state'));
    expect(calls.slice(0, 2)).toEqual([`containers.stopAll ${id}`, `runtime.kill ${id} KILL`]);
    expect(calls.slice(2, 4).sort()).toEqual([`network.tearDown ${id} netns`, `runtime.delete ${id}`]);
    expect(calls.slice(4)).toEqual([`netns.remove ${id}`, 'shm.unmount', `monitor.cleanup ${id}`]);
    expect(m.get(s.id)).toMatchObject({ state: 'NOTREADY', pid: 0, networkDown: true, exitCode: 137 });
    expect(x.events.slice(-1)).toEqual([`STOPPED ${id}`]);
    // Stopping again, or an unknown pod, is success and does nothing to the network.
    const again = x.w.calls.length;
    await m.stop(s.id);
    await m.stop('unknown');
    expect(x.w.callsOf('network.').length).toBe(x.w.calls.slice(0, again).filter((c) => c.startsWith('network.')).length);
  });

  it('a failed CNI DEL fails Stop and leaves the pod as it was; the next Stop releases it', async () => {
    const x = world();
    const m = x.make();
    const s = await m.run(podConfig(), '');
    x.w.faults.fail('network.tearDown', new Error('DEL failed'));
    await expect(m.stop(s.id)).rejects.toThrow('DEL failed');
    expect(m.get(s.id).state).toBe('READY');
    await m.stop(s.id);
    expect(m.get(s.id).state).toBe('NOTREADY');
    expect(x.network.up.has(s.id)).toBe(false);
  });

  it('removes in order: containers, stop if needed, bundle and record; twice is fine', async () => {
    const x = world();
    const m = x.make();
    const s = await m.run(podConfig(), '');
    const mark = x.w.calls.length;
    await m.remove(s.id);
    const id = s.id.slice(0, 6);
    expect(x.w.calls.slice(mark).filter((c) => c.startsWith('containers.'))).toEqual([`containers.removeAll ${id}`, `containers.stopAll ${id}`]);
    expect(x.w.calls.slice(mark).at(-1)).toBe(`exits.remove ${id}`);
    expect(leftovers(x, s.id)).toEqual([]);
    expect(() => m.get(s.id)).toThrow(/not found/);
    expect(x.events.slice(-2)).toEqual([`STOPPED ${id}`, `DELETED ${id}`]);
    await m.remove(s.id);
    // A stopped pod is removed without a second stop.
    const t = await m.run(podConfig(), '');
    await m.stop(t.id);
    const before = x.w.callsOf('containers.stopAll').length;
    await m.remove(t.id);
    expect(x.w.callsOf('containers.stopAll').length).toBe(before);
  });

  it('marks a pod NOTREADY when its infra exits, and stores pod-level resources', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const s = await m.run(podConfig(), '');
    x.exits.write(s.id, 2);
    await until('the pod to be NOTREADY', () => m.get(s.id).state === 'NOTREADY');
    expect(m.get(s.id)).toMatchObject({ pid: 0, exitCode: 2 });
    expect(x.events.at(-1)).toBe(`STOPPED ${s.id.slice(0, 6)}`);
    await m.updateResources(s.id, { resources: { memoryLimitInBytes: 1 << 26 }, overhead: { cpuShares: 2 } });
    expect(record(x, s.id).config.resources).toEqual({ memoryLimitInBytes: 1 << 26 });
    await expect(m.updateResources('nope', {})).rejects.toThrow(/not found/);
    expect(await m.infraSpec(s.id)).toMatchObject({ process: { args: ['/pause'] } });
  });

  it('refuses an ambiguous id prefix', async () => {
    const x = world();
    const m = x.make();
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await m.run(podConfig(), '')).id);
    const first = ids[0]!;
    const clash = ids.find((id) => id !== first && id[0] === first[0]);
    if (clash) expect(() => m.find(first[0]!)).toThrow(/ambiguous/);
    expect(m.find('')).toBeUndefined();
  });
});

describe('SandboxManager.recover', () => {
  async function seed(x: ReturnType<typeof world>, state: 'READY' | 'NOTREADY', runtimeStatus: 'running' | 'stopped' | 'missing', exitCode?: number): Promise<string> {
    const m = x.make();
    const s = await m.run(podConfig(), '');
    if (state === 'NOTREADY') await m.stop(s.id);
    await m.close();
    if (runtimeStatus === 'missing') x.runtime.containers.delete(s.id);
    else if (runtimeStatus === 'stopped') x.runtime.containers.get(s.id)!.status = 'stopped';
    if (exitCode !== undefined) x.exits.write(s.id, exitCode, true);
    return s.id;
  }

  it.each([
    ['READY', 'running', undefined, 'READY'],
    ['READY', 'running', 0, 'NOTREADY'],
    ['READY', 'stopped', undefined, 'NOTREADY'],
    ['READY', 'missing', undefined, 'NOTREADY'],
    ['READY', 'missing', 137, 'NOTREADY'],
    ['NOTREADY', 'missing', undefined, 'NOTREADY'],
  ] as const)('a %s record with the infra %s and exit file %s is %s', async (state, runtimeStatus, exitCode, expected) => {
    const x = world();
    const id = await seed(x, state, runtimeStatus, exitCode);
    const m = x.make();
    await m.recover();
    expect(m.get(id).state).toBe(expected);
    if (exitCode !== undefined && state === 'READY' && runtimeStatus === 'running') expect(m.get(id).exitCode).toBe(exitCode);
    expect(record(x, id).state).toBe(expected);
    expect(x.exits.listening).toBeGreaterThan(0);
  });

  it('a pod whose handler is gone recovers NOTREADY and can still be removed', async () => {
    const x = world();
    const m = x.make();
    const s = await m.run(podConfig(), '');
    await m.close();
    const path = join(x.root, 'root', 'sandboxes', s.id, 'sandbox.json');
    writeFileSync(path, JSON.stringify({ ...record(x, s.id), runtimeHandler: 'gone' }));
    const again = x.make();
    await again.recover();
    expect(again.get(s.id).state).toBe('NOTREADY');
    await again.remove(s.id);
    expect(existsSync(path)).toBe(false);
  });

  it('removes what no record owns: a dir without record, an unreadable record, netns pins, CNI state, infra containers, bundles', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const kept = await m.run(podConfig(), '');
    await m.close();
    const records = join(x.root, 'root', 'sandboxes');
    const bundles = join(x.root, 'state', 'sandboxes');
    mkdirSync(join(records, 'norecord'));
    mkdirSync(join(records, 'garbled'));
    writeFileSync(join(records, 'garbled', 'sandbox.json'), '{not json');
    await x.netns.create('orphan-netns');
    x.network.up.set('orphan-cni', '10.88.0.99');
    mkdirSync(join(bundles, 'orphan-infra'), { recursive: true });
    x.runtime.add('orphan-infra', join(bundles, 'orphan-infra'), 'running');
    x.runtime.add('not-ours', '/elsewhere/bundle', 'running');
    const again = x.make();
    await again.recover();
    expect(again.list().map((s) => s.id)).toEqual([kept.id]);
    expect(existsSync(join(records, 'norecord'))).toBe(false);
    expect(existsSync(join(records, 'garbled'))).toBe(false);
    expect(existsSync(x.netns.pathFor('orphan-netns'))).toBe(false);
    expect([...x.network.up.keys()]).toEqual([kept.id]);
    expect([...x.runtime.containers.keys()].sort()).toEqual([kept.id, 'not-ours'].sort());
    expect(existsSync(join(bundles, 'orphan-infra'))).toBe(false);
    expect(existsSync(x.netns.pathFor(kept.id))).toBe(true);
  });
});

describe('SandboxManager and callers that go away', () => {
  it('hands a pod built for a caller that gave up to its identical retry: same id, visible only then', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const config = podConfig();
    const abort = new AbortController();
    x.w.faults.hooks.set('network.setUp', () => abort.abort());
    await expect(m.run(config, '', abort.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    x.w.faults.hooks.clear();
    // The work went on; the pod is built but hidden until the retry takes it.
    await until('the creation to finish', () => x.w.callsOf('runtime.start').length === 1);
    await until('the pod to be held', () => x.runtime.containers.size === 1 && m.list().length === 0);
    expect(x.events).toEqual([]);
    const id = [...x.runtime.containers.keys()][0]!;
    expect(() => m.get(id)).toThrow(/not found/);
    // Another request with the same name but another config is refused; the identical one gets the pod.
    await expect(m.run({ ...config, hostname: 'other' }, '')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    const got = await m.run(config, '');
    expect(got.id).toBe(id);
    expect(m.list().map((s) => s.id)).toEqual([id]);
    expect(x.events).toEqual([`CREATED ${id.slice(0, 6)}`, `STARTED ${id.slice(0, 6)}`]);
    expect(x.w.callsOf('netns.create').length).toBe(1);
  });

  it('an identical request joins a creation its caller gave up on; while that caller waits it is a duplicate', async () => {
    const x = world();
    const m = x.make();
    const config = podConfig();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const orig = x.infra.get.bind(x.infra);
    x.infra.get = async () => {
      await gate;
      return orig();
    };
    const caller = new AbortController();
    const first = m.run(config, '', caller.signal);
    await expect(m.run(structuredClone(config), '')).rejects.toThrow(/already being created by another request/);
    caller.abort();
    await expect(first).rejects.toThrow(/went away/);
    const retry = m.run(structuredClone(config), '');
    release();
    const b = await retry;
    expect(m.list().map((s) => s.id)).toEqual([b.id]);
    expect(x.w.callsOf('netns.create').length).toBe(1);
  });

  it('a creation that fails after its caller left is undone and frees the name', async () => {
    const x = world();
    const m = x.make();
    const config = podConfig();
    const abort = new AbortController();
    x.w.faults.hooks.set('monitor.start', () => abort.abort());
    x.w.faults.fail('runtime.start');
    await expect(m.run(config, '', abort.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    x.w.faults.hooks.clear();
    await until('the undo to finish', () => x.runtime.containers.size === 0 && x.network.up.size === 0);
    await until('the name to be free', async () => (await m.run(config, '').then(() => true, () => false)));
  });

  it('undoes a pod nobody claimed once the hold time is over', async () => {
    const x = world();
    const m = x.make({ handoffHoldMs: 20 });
    const abort = new AbortController();
    x.w.faults.hooks.set('infra.get', () => abort.abort());
    await expect(m.run(podConfig(), '', abort.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    x.w.faults.hooks.clear();
    await until('the unclaimed pod to be undone', () => x.w.callsOf('exits.remove').length > 0 && x.runtime.containers.size === 0);
    expect(x.network.up.size).toBe(0);
    expect(entries(join(x.root, 'state', 'sandboxes'))).toEqual([]);
    expect(entries(join(x.root, 'root', 'sandboxes'))).toEqual([]);
    expect(entries(x.netns.dir)).toEqual([]);
    expect(x.events).toEqual([]);
  });

  it('a caller gone before the work started gets nothing built', async () => {
    const x = world();
    const m = x.make();
    const abort = new AbortController();
    abort.abort();
    const config = podConfig();
    await expect(m.run(config, '', abort.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(x.w.callsOf('infra.', 'netns.')).toEqual([]);
    expect((await m.run(config, '')).state).toBe('READY');
  });
});
