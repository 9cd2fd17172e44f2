// Container lifecycle edges on fakes: runc's "executable not found" turned into the catalogue's
// FAILED_PRECONDITION naming the command (at create and at start), a pid namespace shared with a
// target container, an image volume sub path missing from the image, ExecSync and log reopening
// refusals, and the exit reason (OOMKilled, Completed, Error) a container is recorded with.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandError, DeadlineExceededError, ExecutableNotFoundError, FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.js';
import type { Spec } from '../oci-spec/types.js';
import { containerWorld } from '../test-container-world.js';
import { until } from '../test-fakes.js';
import type { ContainerConfig } from './container-config.js';

type World_ = Awaited<ReturnType<typeof containerWorld>>;
const worlds: World_[] = [];
afterEach(() => {
  for (const x of worlds.splice(0)) {
    for (const m of x.managers) m.close();
    rmSync(x.root, { recursive: true, force: true });
  }
});

async function world(): Promise<World_> {
  const x = await containerWorld({ plainRuntime: true });
  worlds.push(x);
  await x.m.recover();
  return x;
}

let n = 0;
function ctr(extra: Partial<ContainerConfig> = {}): ContainerConfig {
  const name = `l${++n}`;
  return { metadata: { name, attempt: 0 }, image: { image: 'busybox' }, command: ['nosuchcmd', '-x'], logPath: `${name}.log`, ...extra };
}

/** What runc 1.1 says when the command is not in the rootfs. */
const NOT_FOUND = 'runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH';

function leftovers(x: World_): string[] {
  return [...[...x.mounts.mounted].map((m) => `mount ${m}`), ...[...x.images.leased.keys()].map((h) => `lease ${h}`), ...[...x.runtime.containers.keys()].map((id) => `runtime ${id}`)];
}

describe('a command missing from the image', () => {
  it('at create is FAILED_PRECONDITION naming the command and the container; nothing is left', async () => {
    const x = await world();
    x.w.faults.fail('runtime.create', new CommandError('/usr/sbin/runc', ['create'], 1, null, NOT_FOUND));
    const err = await x.m.create(x.sandbox.id, ctr()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutableNotFoundError);
    expect((err as Error).message).toMatch(/^container "l\d+" \(attempt 0\) in pod sandbox "c{64}": command "nosuchcmd" not found in the container: runc create failed/);
    expect(leftovers(x)).toEqual([]);
    expect(x.m.list()).toEqual([]);
  });

  it('at start (runtimes that look it up then) is FAILED_PRECONDITION too, and the container EXITED with StartError', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr());
    x.w.faults.fail('runtime.start', new CommandError('/usr/bin/crun', ['start'], 1, null, 'executable file `nosuchcmd` not found in $PATH: No such file or directory'));
    const err = await x.m.start(c.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutableNotFoundError);
    expect((err as Error).message).toContain('command "nosuchcmd" not found in the container');
    expect(x.m.get(c.id).status).toMatchObject({ state: 'EXITED', reason: 'StartError', message: (err as Error).message });
  });

  it('other runtime failures stay what they were', async () => {
    const x = await world();
    const other = new CommandError('/usr/sbin/runc', ['create'], 1, null, 'error mounting "/data" to rootfs: no such file or directory');
    x.w.faults.fail('runtime.create', other);
    await expect(x.m.create(x.sandbox.id, ctr())).rejects.toBe(other);
  });
});

describe('create options', () => {
  it("a pid namespace shared with a running target container joins that container's namespace", async () => {
    const x = await world();
    const target = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(target.id);
    const pid = x.m.get(target.id).status.pid;
    const c = await x.m.create(x.sandbox.id, ctr({ command: ['sh'], linux: { securityContext: { namespaceOptions: { pid: 'TARGET', targetId: target.id } } } }));
    const spec = JSON.parse(readFileSync(join(c.bundle, 'config.json'), 'utf8')) as Spec;
    expect(spec.linux?.namespaces?.find((ns) => ns.type === 'pid')).toEqual({ type: 'pid', path: `/proc/${pid}/ns/pid` });
  });

  it('an image volume whose sub path is not in the image is INVALID_ARGUMENT; its mount and lease are undone', async () => {
    const x = await world();
    x.images.addImage('volume');
    const err = await x.m.create(x.sandbox.id, ctr({ command: ['sh'], mounts: [{ containerPath: '/models', hostPath: '', image: { image: 'volume' }, imageSubPath: 'weights/v1' }] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe('image volume "volume": sub path "weights/v1" does not exist in the image');
    expect(leftovers(x)).toEqual([]);
  });
});

describe('calls on a container in the wrong state', () => {
  it('ExecSync needs a command and a running container; it runs the command through the runtime', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await expect(x.m.execSync(c.id, [], 0)).rejects.toThrow(new InvalidArgumentError('ExecSync: cmd is required'));
    await expect(x.m.execSync(c.id, ['true'], 0)).rejects.toThrow(`container "${c.id}" is CREATED, not RUNNING; cannot exec in it`);
    await x.m.start(c.id);
    expect(await x.m.execSync(c.id.slice(0, 8), ['true'], 0)).toEqual({ stdout: '', stderr: '', exitCode: 0 });
  });

  it('ReopenContainerLog of a container without a log does nothing', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'], logPath: '' }));
    await x.m.start(c.id);
    await x.m.reopenLog(c.id);
    expect(x.w.callsOf('monitor.reopenLog')).toEqual([]);
    const logged = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(logged.id);
    await x.m.reopenLog(logged.id);
    expect(x.w.callsOf('monitor.reopenLog')).toEqual(['monitor.reopenLog']);
  });

  it('UpdateContainerResources of an exited container is FAILED_PRECONDITION', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(c.id);
    x.exits.write(c.id, 0);
    await until('the exit', () => x.m.get(c.id).status.state === 'EXITED');
    const err = await x.m.updateResources(c.id, { memoryLimitInBytes: 1 << 26 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(`container "${c.id}" is EXITED; resources can only be updated while it is created or running`);
  });
});

describe('the reason an exited container is recorded with', () => {
  it('OOMKilled when the monitor saw the OOM killer, else Completed or Error by the exit code', async () => {
    const x = await world();
    const started = async () => {
      const c = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
      await x.m.start(c.id);
      return c;
    };
    const oom = await started();
    writeFileSync(join(oom.bundle, 'oom'), '');
    x.exits.write(oom.id, 137);
    const ok = await started();
    x.exits.write(ok.id, 0);
    const failed = await started();
    x.exits.write(failed.id, 2);
    await until('the exits', () => [oom, ok, failed].every((c) => x.m.get(c.id).status.state === 'EXITED'));
    expect(x.m.get(oom.id).status).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect(x.m.get(ok.id).status).toMatchObject({ reason: 'Completed', exitCode: 0 });
    expect(x.m.get(failed.id).status).toMatchObject({ reason: 'Error', exitCode: 2 });
    // Listed in the order they were created.
    expect(x.m.list().map((c) => c.id)).toEqual([oom.id, ok.id, failed.id]);
  });
});

describe('exits while the daemon was down, and the container list', () => {
  it('recovery records the exit file it finds with its reason, OOMKilled included', async () => {
    const x = await world();
    const oom = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(oom.id);
    const ok = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(ok.id);
    for (const m of x.managers) m.close();
    // Meanwhile both exited; the monitor saw the OOM killer take the first.
    writeFileSync(join(oom.bundle, 'oom'), '');
    x.exits.write(oom.id, 137, true);
    x.exits.write(ok.id, 0, true);
    const again = x.make();
    await again.recover();
    expect(again.get(oom.id).status).toMatchObject({ state: 'EXITED', reason: 'OOMKilled', exitCode: 137 });
    expect(again.get(ok.id).status).toMatchObject({ state: 'EXITED', reason: 'Completed', exitCode: 0 });
  });

  it('filters by id prefix, state, pod and labels', async () => {
    const x = await world();
    const a = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'], labels: { tier: 'web' } }));
    const b = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'], labels: { tier: 'db' } }));
    await x.m.start(b.id);
    const ids = (f: Parameters<typeof x.m.list>[0]) => x.m.list(f).map((c) => c.id);
    expect(ids({ id: a.id.slice(0, 10) })).toEqual([a.id]);
    expect(ids({ state: 'RUNNING' })).toEqual([b.id]);
    expect(ids({ labelSelector: { tier: 'web' } })).toEqual([a.id]);
    expect(ids({ podSandboxId: x.sandbox.id })).toEqual([a.id, b.id]);
    expect(ids({ podSandboxId: 'other' })).toEqual([]);
  });

  it('the unfiltered list is answered from a cache that every change replaces', async () => {
    const x = await world();
    const a = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    const first = x.m.list();
    expect(x.m.list()).toBe(first);
    await x.m.start(a.id);
    const started = x.m.list();
    expect(started).not.toBe(first);
    expect(started.map((c) => c.status.state)).toEqual(['RUNNING']);
    const b = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    expect(x.m.list().map((c) => c.id)).toEqual([a.id, b.id]);
    x.m.store.hide(b.id);
    expect(x.m.list().map((c) => c.id)).toEqual([a.id]);
    x.m.store.reveal(b.id);
    await x.m.remove(a.id);
    expect(x.m.list().map((c) => c.id)).toEqual([b.id]);
  });
});

describe('StopContainer edges', () => {
  it('two stops at once send one signal and both return once it exited; stopping it again does nothing', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(c.id);
    x.runtime.onKill = (id) => x.exits.write(id, 143);
    await Promise.all([x.m.stop(c.id, 30), x.m.stop(c.id, 30)]);
    expect(x.w.callsOf('runtime.kill')).toEqual([`runtime.kill ${c.id.slice(0, 6)} SIGTERM`]);
    await x.m.stop(c.id, 30);
    expect(x.w.callsOf('runtime.kill')).toHaveLength(1);
    expect(x.m.get(c.id).status).toMatchObject({ state: 'EXITED', exitCode: 143 });
  });

  it('a container still running after SIGKILL is DEADLINE_EXCEEDED, not recorded as stopped', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(c.id);
    x.runtime.onKill = (id) => {
      const st = x.runtime.containers.get(id);
      if (st) st.status = 'running'; // stuck in the kernel (D state): the kill does not take
    };
    await expect(x.m.stop(c.id, 0)).rejects.toThrow(new DeadlineExceededError(`container "${c.id}" did not exit after SIGKILL`));
    expect(x.m.get(c.id).status.state).toBe('RUNNING');
  });
});

describe('what the stats collector sees', () => {
  it('every visible container with its state; an unknown id is undefined', async () => {
    const x = await world();
    const created = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    const runningC = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(runningC.id);
    const exited = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    await x.m.start(exited.id);
    x.exits.write(exited.id, 0);
    await until('the exit', () => x.m.get(exited.id).status.state === 'EXITED');
    const states = new Map(x.m.listContainers().map((i) => [i.id, i.state]));
    expect([states.get(created.id), states.get(runningC.id), states.get(exited.id)]).toEqual(['created', 'running', 'exited']);
    expect(x.m.getContainer(runningC.id)?.state).toBe('running');
    expect(x.m.getContainer('f'.repeat(64))).toBeUndefined();
  });
});

describe('records on disk', () => {
  it('recovery skips what is not a container record (stray files, dot dirs of removals in progress)', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr({ command: ['sleep', '1000'] }));
    const records = join(x.root, 'root', 'containers');
    writeFileSync(join(records, 'stray-file'), '');
    mkdirSync(join(records, '.partial-write'));
    for (const m of x.managers) m.close();
    const again = x.make();
    await again.recover();
    expect(again.list().map((r) => r.id)).toEqual([c.id]);
  });
});
