import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { testHost } from '../oci-spec/test-host.js';
import type { Sandbox } from '../sandbox/sandbox-config.js';
import { FakeExits, FakeImages, FakeMonitor, FakeMounts, FakeRuntime, World, fakeHandlers, until } from '../test-fakes.js';
import { containerPod, onePod } from '../test-container-world.js';
import type { ContainerConfig } from './container-config.js';
import type { ContainerManagerOptions } from './container-deps.js';
import { ContainerManager } from './container-manager.js';
import type { ContainerEvent, ContainerStatusRecord } from './container-record.js';

const dirs: string[] = [];
const managers: ContainerManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function pod(root: string, state: Sandbox['state'] = 'READY'): Sandbox {
  return containerPod(root, { id: 'a'.repeat(64), state, readonlyRootfs: true, hostname: 'p' });
}

function world(dir?: string) {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'nexcage-ctr-'));
  if (!dir) dirs.push(root);
  const w = new World(root);
  const runtime = new FakeRuntime(w);
  const handlers = fakeHandlers(runtime);
  const images = new FakeImages(w);
  images.addImage('busybox', { StopSignal: 'SIGUSR1', Cmd: ['sh'] });
  images.addImage('volume');
  const sandbox = pod(root);
  const parts = { w, runtime, images, sandbox, monitor: new FakeMonitor(w), exits: new FakeExits(w), mounts: new FakeMounts(w), events: [] as ContainerEvent[] };
  const make = (extra: Partial<ContainerManagerOptions> = {}): ContainerManager => {
    const m = new ContainerManager({
      rootDir: join(root, 'root'),
      stateDir: join(root, 'state'),
      handlers,
      runtimeFor: handlers.runtimeFor,
      monitor: parts.monitor,
      exits: parts.exits,
      sandboxes: onePod(() => parts.sandbox),
      images,
      host: testHost(),
      cgroupDriver: 'cgroupfs',
      cgroupLayout: undefined,
      events: { publish: (e: ContainerEvent) => parts.events.push(e) },
      log: silentLogger(),
      killWaitMs: 100,
      mounts: parts.mounts,
      ...extra,
    });
    managers.push(m);
    return m;
  };
  return { ...parts, root, make };
}

let n = 0;
function ctr(extra: Partial<ContainerConfig> = {}): ContainerConfig {
  const name = `c${++n}`;
  return { metadata: { name, attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '1000'], logPath: `${name}.log`, ...extra };
}

function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** What a container can leave, as the fakes see it. */
function leftovers(x: ReturnType<typeof world>): string[] {
  return [
    ...entries(join(x.root, 'root', 'containers')).map((d) => `record ${d.slice(0, 6)}`),
    ...entries(join(x.root, 'state', 'containers')).map((d) => `bundle ${d.slice(0, 6)}`),
    ...[...x.mounts.mounted].map((m) => `mount ${m.slice(x.root.length)}`),
    ...[...x.images.leased.keys()].map((h) => `lease ${h.slice(0, 6)}`),
    ...[...x.runtime.containers.keys()].map((id) => `runtime ${id.slice(0, 6)}`),
  ];
}

const volumeMount = { containerPath: '/data', hostPath: '', readonly: true, image: { image: 'volume' } } as ContainerConfig['mounts'] extends (infer M)[] | undefined ? M : never;

describe('ContainerManager.create', () => {
  it('creates a container step by step: lease, rootfs, image volume, spec, monitor + runtime create, record', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const c = await m.create(x.sandbox.id, ctr({ mounts: [volumeMount] }));
    expect(c.status).toMatchObject({ state: 'CREATED' });
    expect(c.stopSignal).toBe('SIGUSR1');
    expect(c.imageVolumeLeases).toEqual([`${c.id}/volume/0`]);
    const id = c.id.slice(0, 6);
    expect(x.w.callsOf('images.lease', 'mounts.', 'monitor.start', 'runtime.create')).toEqual([
      `images.lease ${id}`,
      'mounts.rootfs',
      `images.lease ${id}`,
      'mounts.volume',
      `monitor.start ${id}`,
      `runtime.create ${id}`,
    ]);
    const spec = JSON.parse(readFileSync(join(c.bundle, 'config.json'), 'utf8')) as { process: { args: string[] }; mounts: { destination: string }[] };
    expect(spec.process.args).toEqual(['sleep', '1000']);
    expect(spec.mounts.some((mm) => mm.destination === '/data')).toBe(true);
    expect(existsSync(join(x.root, 'root', 'containers', c.id, 'meta.json'))).toBe(true);
    expect(m.list().map((cc) => cc.id)).toEqual([c.id]);
    expect(x.events.map((e) => e.type)).toEqual(['CREATED']);
    expect(m.stateCounts().get('CREATED')).toBe(1);
    expect(m.listContainers()[0]).toMatchObject({ id: c.id, state: 'created' });
    expect(m.getContainer(c.id.slice(0, 8))?.id).toBe(c.id);
    expect(await m.spec(c.id)).toMatchObject({ process: { args: ['sleep', '1000'] } });
  });

  it('takes tty, stdin, an explicit stop signal, no log and resources from the request', async () => {
    const x = world();
    const m = x.make({ pidsLimit: 100 });
    const c = await m.create(x.sandbox.id, ctr({ tty: true, stdin: true, stdinOnce: true, stopSignal: 'SIGINT', logPath: '', linux: { resources: { memoryLimitInBytes: 1 << 26 } } }));
    expect(c).toMatchObject({ stopSignal: 'SIGINT', logPath: '', resources: { memoryLimitInBytes: 1 << 26 } });
    expect(await m.spec(c.id)).toMatchObject({ process: { terminal: true }, linux: { resources: { pids: { limit: 100 } } } });
  });

  it('refuses bad requests before building anything', async () => {
    const x = world();
    const m = x.make();
    await expect(m.create('', ctr())).rejects.toThrow(/pod_sandbox_id is required/);
    await expect(m.create(x.sandbox.id, ctr({ metadata: { name: '', attempt: 0 } }))).rejects.toThrow(/metadata.name is required/);
    await expect(m.create(x.sandbox.id, ctr({ image: { image: '' } }))).rejects.toThrow(/image is required/);
    await expect(m.create('nope', ctr())).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(m.create(x.sandbox.id, ctr({ image: { image: 'missing' } }))).rejects.toThrow(/image "missing" not found/);
    x.sandbox.state = 'NOTREADY';
    await expect(m.create(x.sandbox.id, ctr())).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(x.w.callsOf('images.lease')).toEqual([]);
  });

  it.each([
    // The lease is taken while the rootfs is mounted: a failure of either undoes both.
    ['images.lease', ['images.layerDirs', 'mounts.rootfs', 'mounts.unmount', 'images.release']],
    ['images.layerDirs', ['images.release']],
    ['mounts.rootfs', ['images.release']],
    ['mounts.volume', ['images.release', 'mounts.unmount', 'images.release']],
    ['monitor.start', ['monitor.cleanup', 'exits.remove', 'runtime.delete', 'mounts.unmount', 'images.release', 'mounts.unmount', 'images.release']],
    ['runtime.create', ['monitor.cleanup', 'exits.remove', 'runtime.delete', 'mounts.unmount', 'images.release', 'mounts.unmount', 'images.release']],
  ])('a failure at %s undoes every finished step, newest first, and frees the name', async (step, undone) => {
    const x = world();
    const m = x.make();
    const config = ctr({ mounts: [volumeMount] });
    x.w.faults.fail(step);
    await expect(m.create(x.sandbox.id, config)).rejects.toThrow(`${step} failed (injected)`);
    const at = x.w.calls.findLastIndex((c) => c.startsWith(step));
    expect(x.w.calls.slice(at + 1).map((c) => c.split(' ')[0])).toEqual(undone);
    expect(leftovers(x)).toEqual([]);
    expect(m.list()).toEqual([]);
    expect(x.events).toEqual([]);
    expect((await m.create(x.sandbox.id, config)).status.state).toBe('CREATED');
  });

  it('undoes a create whose mount host path is relative (INVALID_ARGUMENT) or whose pid target is not running', async () => {
    const x = world();
    const m = x.make();
    await expect(m.create(x.sandbox.id, ctr({ mounts: [{ containerPath: '/x', hostPath: 'relative', readonly: false }] }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(m.create(x.sandbox.id, ctr({ linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'TARGET', ipc: 'POD', targetId: 'nope' } } } }))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(m.create(x.sandbox.id, ctr({ mounts: [{ ...volumeMount, image: { image: 'gone' } }] }))).rejects.toThrow(/image volume "gone"/);
    expect(leftovers(x)).toEqual([]);
    const missing = join(x.root, 'made', 'by', 'create');
    await m.create(x.sandbox.id, ctr({ mounts: [{ containerPath: '/x', hostPath: missing, readonly: false }] }));
    expect(existsSync(missing)).toBe(true);
  });

  it('keeps a container whose rootfs unmount failed during the undo as UNKNOWN with its lease and name; Stop finishes the cleanup, Remove forgets it', async () => {
    const x = world();
    const m = x.make({ cleanupRetry: { initialMs: 60_000, maxMs: 60_000 } });
    await m.recover();
    const config = ctr();
    x.w.faults.fail('monitor.start', new Error('conmon failed'));
    x.w.faults.fail('mounts.unmount', new Error('target is busy'));
    await expect(m.create(x.sandbox.id, config)).rejects.toThrow('conmon failed');
    const [kept] = m.list();
    expect(kept).toBeDefined();
    const id = kept!.id.slice(0, 6);
    expect(kept!.status).toMatchObject({ state: 'UNKNOWN', reason: 'CreateContainerError', runtimeDeleted: true });
    expect(kept!.status.cleanup?.reason).toMatch(/conmon failed.*rootfs mount: target is busy; not attempted: image lease, bundle, record dir/);
    // What the undo promised: runtime and monitor files gone; the mount, its image lease and the dirs stay.
    expect(leftovers(x).sort()).toEqual([`bundle ${id}`, `lease ${id}`, `mount /state/containers/${kept!.id}/rootfs`, `record ${id}`].sort());
    expect(m.listContainers()[0]).toMatchObject({ state: 'unknown' });
    await expect(m.create(x.sandbox.id, config)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    // The exit watcher has nothing to say about it.
    x.exits.write(kept!.id, 1);
    await m.stop(kept!.id, 10);
    expect(m.get(kept!.id).status).toMatchObject({ state: 'EXITED', reason: 'CreateContainerError', exitCode: 128 });
    expect(m.get(kept!.id).status.cleanup).toBeUndefined();
    expect(leftovers(x).sort()).toEqual([`record ${id}`]);
    await m.remove(kept!.id);
    expect(leftovers(x)).toEqual([]);
    expect((await m.create(x.sandbox.id, config)).status.state).toBe('CREATED');
  });

  it('retries the cleanup of an UNKNOWN container in the background, and keeps it across a restart', async () => {
    const x = world();
    const m = x.make({ cleanupRetry: { initialMs: 60_000, maxMs: 60_000 } });
    x.w.faults.fail('runtime.create');
    x.w.faults.fail('runtime.delete', new Error('runc delete failed'), 3);
    await expect(m.create(x.sandbox.id, ctr())).rejects.toThrow('runtime.create failed');
    const id = m.list()[0]!.id;
    expect(m.get(id).status).toMatchObject({ state: 'UNKNOWN', runtimeDeleted: false });
    m.close();
    const again = x.make({ cleanupRetry: { initialMs: 5, maxMs: 20 } });
    await again.recover();
    expect(again.get(id).status.state).toBe('UNKNOWN');
    await until('the background retry to finish the cleanup', () => again.get(id).status.state === 'EXITED');
    expect(x.w.callsOf('runtime.delete').length).toBe(4);
    expect(leftovers(x).map((l) => l.split(' ')[0])).toEqual(['record']);
    await again.remove(id);
    expect(leftovers(x)).toEqual([]);
  });
});

describe('ContainerManager start, stop, remove', () => {
  it('starts, stops with the stop signal, records the exit, removes in order', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const c = await m.create(x.sandbox.id, ctr({ mounts: [volumeMount] }));
    await m.start(c.id);
    expect(m.get(c.id).status.state).toBe('RUNNING');
    await expect(m.start(c.id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    x.runtime.onKill = (id, signal) => {
      if (signal === 'SIGUSR1') x.exits.write(id, 0);
    };
    await m.stop(c.id, 5);
    // Stop returns once the runtime's record and the rootfs mount went (released behind the recorded exit).
    expect(m.get(c.id).status).toMatchObject({ state: 'EXITED', exitCode: 0, reason: 'Completed', runtimeDeleted: true });
    expect(x.w.callsOf('runtime.delete', 'mounts.unmountAll')).toEqual([`runtime.delete ${c.id.slice(0, 6)}`, 'mounts.unmountAll']);
    expect(x.w.callsOf('runtime.kill')).toEqual([`runtime.kill ${c.id.slice(0, 6)} SIGUSR1`]);
    expect(x.events.map((e) => e.type)).toEqual(['CREATED', 'STARTED', 'STOPPED']);
    const mark = x.w.calls.length;
    await m.remove(c.id);
    const id = c.id.slice(0, 6);
    // The mounts went with the release behind the exit: Remove has only files and leases left.
    expect(x.w.calls.slice(mark)).toEqual([`monitor.cleanup ${id}`, `exits.remove ${id}`, `images.release ${id}`, `images.release ${id}`]);
    expect(leftovers(x)).toEqual([]);
    expect(x.events.at(-1)?.type).toBe('DELETED');
    await m.remove(c.id);
    await m.stop(c.id, 1);
  });

  it('an exit file stamped before the start (the coarse file clock) records the exit no earlier than the start', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const c = await m.create(x.sandbox.id, ctr());
    await m.start(c.id);
    const startedAtNs = BigInt(m.get(c.id).status.startedAtNs ?? '0');
    x.exits.write(c.id, 0, false, startedAtNs - 3_000_000n);
    await vi.waitFor(() => expect(m.get(c.id).status.state).toBe('EXITED'), { timeout: 5_000, interval: 5 });
    expect(startedAtNs).toBeGreaterThan(0n);
    expect(m.get(c.id).status.finishedAtNs).toBe(startedAtNs.toString());
  });

  it('retries a runtime delete that failed after the exit in the background; Remove finishes it when it comes first', async () => {
    const x = world();
    const m = x.make({ cleanupRetry: { initialMs: 10, maxMs: 20 } });
    await m.recover();
    const c = await m.create(x.sandbox.id, ctr());
    await m.start(c.id);
    x.w.faults.fail('runtime.delete');
    x.exits.write(c.id, 3);
    await vi.waitFor(() => expect(m.get(c.id).status.runtimeDeleted).toBe(true), { timeout: 5_000, interval: 5 });
    expect(m.get(c.id).status).toMatchObject({ state: 'EXITED', exitCode: 3, reason: 'Error' });
    expect(x.w.callsOf('runtime.delete')).toHaveLength(2);

    // With the retry far off, Remove does what is left.
    const y = world();
    const slow = y.make({ cleanupRetry: { initialMs: 60_000, maxMs: 60_000 } });
    await slow.recover();
    const d = await slow.create(y.sandbox.id, ctr());
    await slow.start(d.id);
    y.w.faults.fail('runtime.delete');
    y.exits.write(d.id, 0);
    await vi.waitFor(() => expect(y.w.callsOf('runtime.delete')).toHaveLength(1), { timeout: 5_000, interval: 5 });
    expect(slow.get(d.id).status).toMatchObject({ state: 'EXITED', exitCode: 0 });
    expect(slow.get(d.id).status.runtimeDeleted).toBeFalsy();
    await slow.remove(d.id);
    expect(y.w.callsOf('runtime.delete')).toHaveLength(2);
    expect(() => slow.get(d.id)).toThrow(/not found/);
  });

  it('Remove moves the record dir and bundle out at once; a trash left by a crash is swept at the next start', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const c = await m.create(x.sandbox.id, ctr());
    const record = join(x.root, 'root', 'containers', c.id);
    mkdirSync(join(record, 'upper', 'data'), { recursive: true });
    await m.remove(c.id);
    expect(existsSync(record)).toBe(false);
    expect(existsSync(c.bundle)).toBe(false);
    const trash = join(x.root, 'root', 'container-trash');
    await vi.waitFor(() => expect(readdirSync(trash)).toEqual([]), { timeout: 5_000, interval: 5 });
    // What a crash left in the trash goes at the next start.
    mkdirSync(join(trash, 'left.1234', 'upper'), { recursive: true });
    m.close();
    const again = x.make();
    await again.recover();
    await vi.waitFor(() => expect(readdirSync(trash)).toEqual([]), { timeout: 5_000, interval: 5 });
  });

  it('sends SIGKILL when the stop signal is ignored, and records a container that left no exit code', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const c = await m.create(x.sandbox.id, ctr());
    await m.start(c.id);
    x.runtime.onKill = (id, signal) => {
      if (signal === 'SIGKILL') x.runtime.containers.get(id)!.status = 'stopped';
    };
    await m.stop(c.id, 0.05);
    expect(x.w.callsOf('runtime.kill').map((k) => k.split(' ')[2])).toEqual(['SIGUSR1', 'SIGKILL']);
    expect(m.get(c.id).status).toMatchObject({ state: 'EXITED', exitCode: 137, message: 'container stopped but its monitor reported no exit code' });
  });

  it('a start that fails leaves the container EXITED with StartError', async () => {
    const x = world();
    const m = x.make();
    const c = await m.create(x.sandbox.id, ctr());
    x.w.faults.fail('runtime.start', new Error('exec failed'));
    await expect(m.start(c.id)).rejects.toThrow('exec failed');
    expect(m.get(c.id).status).toMatchObject({ state: 'EXITED', reason: 'StartError', exitCode: 128 });
  });

  it('stopAll and removeAll act on every container of the pod', async () => {
    const x = world();
    const m = x.make();
    await m.recover();
    const a = await m.create(x.sandbox.id, ctr());
    const b = await m.create(x.sandbox.id, ctr());
    await m.start(a.id);
    x.runtime.onKill = (id) => x.exits.write(id, 137);
    await m.stopAll(x.sandbox.id, 0);
    expect(m.get(a.id).status.state).toBe('EXITED');
    expect(m.get(b.id).status.state).toBe('EXITED');
    m.publishSandbox(x.sandbox, 'STOPPED');
    expect(x.events.at(-1)).toMatchObject({ id: x.sandbox.id, type: 'STOPPED' });
    await m.removeAll(x.sandbox.id);
    expect(m.list()).toEqual([]);
    expect(leftovers(x)).toEqual([]);
  });

  it('updates resources of a live container and refuses an exited one; reopens the log only while running', async () => {
    const x = world();
    const m = x.make();
    const c = await m.create(x.sandbox.id, ctr());
    await expect(m.reopenLog(c.id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await m.updateResources(c.id, { memoryLimitInBytes: 1 << 26 });
    expect(m.get(c.id).resources).toEqual({ memoryLimitInBytes: 1 << 26 });
    expect(x.w.callsOf('runtime.update')).toHaveLength(1);
    await expect(m.updateResources('nope', {})).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(m.execSync(c.id, ['true'], 1)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(m.locate(c.id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(m.locateAttach(c.id)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});

describe('ContainerManager.recover', () => {
  async function seed(x: ReturnType<typeof world>, state: 'CREATED' | 'RUNNING' | 'EXITED'): Promise<string> {
    const m = x.make();
    const c = await m.create(x.sandbox.id, ctr());
    if (state !== 'CREATED') await m.start(c.id);
    if (state === 'EXITED') {
      x.runtime.onKill = (id) => x.exits.write(id, 137);
      await m.stop(c.id, 0);
      x.runtime.onKill = undefined;
    }
    m.close();
    return c.id;
  }

  it.each([
    ['CREATED', 'created', undefined, { state: 'CREATED' }],
    ['CREATED', 'missing', 3, { state: 'EXITED', exitCode: 3, reason: 'Error' }],
    ['RUNNING', 'running', undefined, { state: 'RUNNING' }],
    ['RUNNING', 'paused', undefined, { state: 'RUNNING' }],
    ['RUNNING', 'running', 0, { state: 'EXITED', exitCode: 0, reason: 'Completed' }],
    ['RUNNING', 'missing', undefined, { state: 'EXITED', exitCode: 255, reason: 'Unknown' }],
    ['RUNNING', 'stopped', undefined, { state: 'EXITED', exitCode: 255, reason: 'Unknown' }],
    ['EXITED', 'missing', undefined, { state: 'EXITED', exitCode: 137 }],
  ] as const)('a %s record with the runtime %s and exit file %s recovers as %o', async (state, rt, exitCode, expected) => {
    const x = world();
    const id = await seed(x, state);
    if (rt === 'missing') x.runtime.containers.delete(id);
    else if (x.runtime.containers.has(id)) x.runtime.containers.get(id)!.status = rt;
    if (exitCode !== undefined) x.exits.write(id, exitCode, true);
    const m = x.make();
    await m.recover();
    expect(m.get(id).status).toMatchObject(expected);
    const onDisk = JSON.parse(readFileSync(join(x.root, 'root', 'containers', id, 'status.json'), 'utf8')) as ContainerStatusRecord;
    expect(onDisk.state).toBe(expected.state);
    if (expected.state === 'EXITED' && state !== 'EXITED') expect(x.runtime.containers.has(id)).toBe(false);
  });

  // A crash while the runtime's create ran: the meta is on disk, the status not yet.
  it.each([
    ['created', { state: 'CREATED' }],
    ['missing', { state: 'EXITED', exitCode: 255, reason: 'Unknown' }],
  ] as const)('a record with a meta and no status, the runtime %s, recovers as %o', async (rt, expected) => {
    const x = world();
    const id = await seed(x, 'CREATED');
    rmSync(join(x.root, 'root', 'containers', id, 'status.json'));
    if (rt === 'missing') x.runtime.containers.delete(id);
    const m = x.make();
    await m.recover();
    expect(m.get(id).status).toMatchObject(expected);
    expect(m.get(id).status.pid).toBe(rt === 'created' ? x.runtime.containers.get(id)?.pid : 0);
  });

  it('mounts a live container rootfs again when the mount went, and removes what no record owns', async () => {
    const x = world();
    const id = await seed(x, 'RUNNING');
    x.mounts.mounted.clear();
    const records = join(x.root, 'root', 'containers');
    const bundles = join(x.root, 'state', 'containers');
    mkdirSync(join(records, 'norecord'));
    mkdirSync(join(records, 'garbled'));
    writeFileSync(join(records, 'garbled', 'meta.json'), '{');
    mkdirSync(join(bundles, 'orphan', 'rootfs'), { recursive: true });
    x.mounts.mounted.add(join(bundles, 'orphan', 'rootfs'));
    await x.images.lease('orphan', 'sha256:x');
    await x.images.lease('orphan/volume/0', 'sha256:y');
    x.runtime.add('orphan', join(bundles, 'orphan'), 'running');
    x.runtime.add('infra', join(x.root, 'state', 'sandboxes', 'p'), 'running');
    const m = x.make();
    await m.recover();
    expect(m.get(id).status.state).toBe('RUNNING');
    expect([...x.mounts.mounted]).toEqual([join(bundles, id, 'rootfs')]);
    expect(entries(records)).toEqual([id]);
    expect(entries(bundles)).toEqual([id]);
    expect([...x.images.leased.keys()]).toEqual([id]);
    expect([...x.runtime.containers.keys()].sort()).toEqual([id, 'infra'].sort());
  });

  it('finds exits fs.watch missed with the periodic sweep', async () => {
    const x = world();
    const m = x.make({ exitSweepMs: 10 });
    await m.recover();
    const c = await m.create(x.sandbox.id, ctr());
    await m.start(c.id);
    x.exits.write(c.id, 9, true);
    await until('the sweep to find the exit', () => m.get(c.id).status.state === 'EXITED');
    expect(m.get(c.id).status.exitCode).toBe(9);
  });
});

describe('ContainerManager and callers that go away', () => {
  it('hands a container built for a caller that gave up to its identical retry; another config is refused', async () => {
    const x = world();
    const m = x.make();
    const config = ctr();
    const abort = new AbortController();
    x.w.faults.hooks.set('mounts.rootfs', () => abort.abort());
    await expect(m.create(x.sandbox.id, config, abort.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    x.w.faults.hooks.clear();
    await until('the container to be built and held', () => x.runtime.containers.size === 1);
    await until('the record to be written', () => entries(join(x.root, 'root', 'containers')).length === 1);
    expect(m.list()).toEqual([]);
    expect(x.events).toEqual([]);
    await expect(m.create(x.sandbox.id, { ...config, command: ['other'] })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    const got = await m.create(x.sandbox.id, config);
    expect(got.id).toBe([...x.runtime.containers.keys()][0]);
    expect(m.list().map((c) => c.id)).toEqual([got.id]);
    expect(x.events.map((e) => e.type)).toEqual(['CREATED']);
  });

  it('undoes a container nobody claimed once the hold time is over, and one whose pod goes first', async () => {
    const x = world();
    const m = x.make({ handoffHoldMs: 20 });
    const abort = new AbortController();
    x.w.faults.hooks.set('images.lease', () => abort.abort());
    await expect(m.create(x.sandbox.id, ctr(), abort.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    x.w.faults.hooks.clear();
    await until('the unclaimed container to be undone', () => x.w.callsOf('exits.remove').length > 0 && leftovers(x).length === 0);
    expect(x.events).toEqual([]);

    const held = x.make({ handoffHoldMs: 60_000 });
    const again = new AbortController();
    again.abort();
    await expect(held.create(x.sandbox.id, ctr(), again.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(leftovers(x)).toEqual([]);
    const late = new AbortController();
    x.w.faults.hooks.set('monitor.start', () => late.abort());
    await expect(held.create(x.sandbox.id, ctr(), late.signal)).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    x.w.faults.hooks.clear();
    await until('the container to be built', () => [...held.store.all()].length === 1);
    await held.removeAll(x.sandbox.id);
    expect(leftovers(x)).toEqual([]);
    expect(x.events).toEqual([]);
  });
});
