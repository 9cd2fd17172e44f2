// CheckpointContainer and the restore from its archive, with fakes at every seam but real files:
// the runtime's binary is a stand-in script the checkpoint helper runs (pause, CRIU dump, resume),
// the archive a real tar. What a user relies on: the archive holds what a restore needs, a failed
// or late checkpoint leaves the container running and no archive, and a restore brings back the
// config, writable layer and log in the new container, refusing archives it cannot trust.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, DeadlineExceededError, FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError } from '../../lib/errors.js';
import type { Spec } from '../oci-spec/types.js';
import { containerCgroup } from '../stats/cgroup-paths.js';
import { CRIU_OK, containerWorld, type ContainerWorldOptions } from '../test-container-world.js';
import { CheckpointingRuntime, until } from '../test-fakes.js';
import { goArch } from './container-checkpoint-archive.js';
import type { ContainerConfig } from './container-config.js';

const worlds: World_[] = [];
afterEach(() => {
  for (const x of worlds.splice(0)) {
    for (const m of x.managers) m.close();
    rmSync(x.root, { recursive: true, force: true });
  }
});

async function world(o: ContainerWorldOptions = {}): Promise<World_> {
  const x = await containerWorld(o);
  worlds.push(x);
  return x;
}

let n = 0;
function ctr(extra: Partial<ContainerConfig> = {}): ContainerConfig {
  const name = `c${++n}`;
  return {
    metadata: { name, attempt: 0 },
    image: { image: 'busybox' },
    command: ['sh', '-c', 'count'],
    labels: { app: 'counter' },
    annotations: { note: 'checkpointed' },
    logPath: `${name}.log`,
    ...extra,
  };
}

type World_ = Awaited<ReturnType<typeof containerWorld>>;

/** A running container whose writable layer has a new file, a changed one and a deletion. */
async function running(x: World_, extra: Partial<ContainerConfig> = {}) {
  const c = await x.m.create(x.sandbox.id, ctr(extra));
  await x.m.start(c.id);
  const upper = join(x.root, 'root', 'containers', c.id, 'upper');
  mkdirSync(join(upper, 'data'), { recursive: true });
  writeFileSync(join(upper, 'data', 'new.txt'), 'written by the container\n');
  // An overlay whiteout: the container deleted /data/old.txt of the image.
  execFileSync('mknod', [join(upper, 'data', 'old.txt'), 'c', '0', '0']);
  mkdirSync(join(x.root, 'logs'), { recursive: true });
  if (c.logPath !== '') writeFileSync(c.logPath, '2026-01-01T00:00:00.000000000Z stdout F n=1\n');
  return c;
}

function tarList(archive: string): string[] {
  return execFileSync('tar', ['--list', '--file', archive], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '');
}

function tarRead(archive: string, member: string): string {
  return execFileSync('tar', ['--extract', '--to-stdout', '--file', archive, member], { encoding: 'utf8' });
}

/** Temporary files next to the archive and work dirs under <root>/checkpoints: none may stay. */
function leftovers(x: World_): string[] {
  const ckpts = join(x.root, 'root', 'checkpoints');
  return [...readdirSync(x.out).filter((f) => f.startsWith('.')), ...(existsSync(ckpts) ? readdirSync(ckpts) : [])];
}

describe('CheckpointContainer', () => {
  it('writes an archive with the CRIU images, metadata, writable layer and log; the container runs on', async () => {
    const x = await world();
    const c = await running(x);
    const location = join(x.out, 'c.tar');
    const r = await x.m.checkpoint(c.id.slice(0, 12), location, 0);
    expect(r.location).toBe(location);
    expect(r.bytes).toBe(statSync(location).size);
    expect(statSync(location).mode & 0o777).toBe(0o600); // every memory page of the container is in it
    const members = tarList(location);
    for (const m of ['checkpoint/', 'checkpoint/core-1.img', 'config.dump', 'spec.dump', 'nexcage.dump', 'rootfs-diff.tar', 'deleted.files', 'dump.log', 'container.log']) {
      expect(members).toContain(m);
    }
    expect(members).not.toContain('journal.json');
    const dump = JSON.parse(tarRead(location, 'nexcage.dump')) as Record<string, unknown>;
    expect(dump).toMatchObject({ version: 1, architecture: goArch(), containerId: c.id, pod: { id: x.sandbox.id, name: 'p', namespace: 'n', uid: 'u' }, criu: { version: '4.1.1' } });
    expect((dump.config as ContainerConfig).metadata.name).toBe(c.config.metadata.name);
    const config = JSON.parse(tarRead(location, 'config.dump')) as Record<string, unknown>;
    expect(config).toMatchObject({ id: c.id, name: c.config.metadata.name, rootfsImageName: 'busybox', runtime: 'runc', restored: false, restoredTime: '0001-01-01T00:00:00Z' });
    expect(JSON.parse(tarRead(location, 'deleted.files'))).toEqual(['/data/old.txt']);
    expect(tarRead(location, 'container.log')).toContain('n=1');
    // The helper paused, dumped (leaving it running) and resumed the container, in that order.
    const calls = await (x.runtime as CheckpointingRuntime).binaryCalls();
    expect(calls.map((l) => l.split(' ')[0])).toEqual(['pause', 'checkpoint', 'resume']);
    expect(calls[1]).toContain('--leave-running');
    expect(x.m.get(c.id).status.state).toBe('RUNNING');
    expect(leftovers(x)).toEqual([]);
  });

  it("a CRIU dump that fails says CRIU's reason; the container is resumed and no archive is left", async () => {
    const x = await world();
    const rt = x.runtime as CheckpointingRuntime;
    const c = await running(x);
    await rt.script('checkpoint', `printf '(00.02) Error (criu/sk-unix.c:1): unix: Unable to dump external socket\\n(00.03) Error (criu/cr-dump.c:2): Dumping FAILED.\\n' > "$work/dump.log"; exit 1`);
    const err = await x.m.checkpoint(c.id, join(x.out, 'c.tar'), 60).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toBe(`checkpoint of container "${c.id}" failed: CRIU dump: Error (criu/sk-unix.c:1): unix: Unable to dump external socket | Error (criu/cr-dump.c:2): Dumping FAILED.`);
    // The helper is stopped before its own resume; the daemon resumes the container itself.
    expect((await rt.binaryCalls()).map((l) => l.split(' ')[0])).toEqual(['pause', 'checkpoint']);
    expect(x.w.callsOf('runtime.resume')).toEqual([`runtime.resume ${c.id.slice(0, 6)}`]);
    expect(existsSync(join(x.out, 'c.tar'))).toBe(false);
    expect(leftovers(x)).toEqual([]);
  });

  it("a dump that fails without a CRIU log says the runtime's error instead", async () => {
    const x = await world();
    const rt = x.runtime as CheckpointingRuntime;
    const c = await running(x);
    await rt.script('checkpoint', `echo '{"level":"error","msg":"criu failed: type NOTIFY errno 0"}' > "$log"; exit 1`);
    await expect(x.m.checkpoint(c.id, join(x.out, 'c.tar'), 60)).rejects.toThrow(`checkpoint of container "${c.id}" failed: CRIU dump: criu failed: type NOTIFY errno 0`);
    await rt.script('checkpoint', `echo "criu: cannot open image dir" ; exit 1`);
    await expect(x.m.checkpoint(c.id, join(x.out, 'c.tar'), 60)).rejects.toThrow(/CRIU dump: criu: cannot open image dir$/);
    await rt.script('checkpoint', 'exit 1');
    await expect(x.m.checkpoint(c.id, join(x.out, 'c.tar'), 60)).rejects.toThrow(/CRIU dump: no reason given$/);
    expect(leftovers(x)).toEqual([]);
  });

  it('a container the runtime cannot pause is not dumped; the runtime says why', async () => {
    const x = await world();
    const rt = x.runtime as CheckpointingRuntime;
    const c = await running(x);
    await rt.script('pause', 'echo "container not running" ; exit 1');
    const err = await x.m.checkpoint(c.id, join(x.out, 'c.tar'), 60).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`checkpoint of container "${c.id}" failed: the runtime could not pause it: container not running`);
    expect((await rt.binaryCalls()).map((l) => l.split(' ')[0])).toEqual(['pause']);
    expect(leftovers(x)).toEqual([]);
  });

  it('one that runs out of its timeout is DEADLINE_EXCEEDED; the dump is killed, the container resumed, no archive', async () => {
    const x = await world();
    const rt = x.runtime as CheckpointingRuntime;
    const c = await running(x);
    await rt.script('checkpoint', `echo $$ > "${join(x.root, 'dump.pid')}"; exec sleep 30`);
    const started = Date.now();
    const err = await x.m.checkpoint(c.id, join(x.out, 'c.tar'), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as Error).message).toBe(`checkpoint of container "${c.id}" did not finish within 1 s (CRIU dump)`);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(x.w.callsOf('runtime.resume')).toEqual([`runtime.resume ${c.id.slice(0, 6)}`]);
    expect(leftovers(x)).toEqual([]);
    // The helper's process group went with it: the stand-in CRIU is not left running.
    const dumpPid = readFileSync(join(x.root, 'dump.pid'), 'utf8').trim();
    await until('the dump to be killed', () => {
      const stat = existsSync(`/proc/${dumpPid}/stat`) ? readFileSync(`/proc/${dumpPid}/stat`, 'utf8') : '';
      return stat === '' || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z'); // gone, or a zombie nobody reaps here
    });
  });

  it('refuses a location that is missing, relative, in a missing directory, or a directory', async () => {
    const x = await world();
    const c = await running(x);
    const cases: [string, string][] = [
      ['', 'CheckpointContainer: location (the archive to write) is required'],
      ['c.tar', 'CheckpointContainer: location "c.tar" must be an absolute path'],
      [join(x.out, 'nope', 'c.tar'), `CheckpointContainer: location "${join(x.out, 'nope', 'c.tar')}": directory "${join(x.out, 'nope')}" does not exist`],
      [x.out, `CheckpointContainer: location "${x.out}" is a directory; it names the archive file to write`],
    ];
    for (const [location, message] of cases) {
      const err = await x.m.checkpoint(c.id, location, 0).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toBe(message);
    }
  });

  it('refuses a container that is not running, and an unknown one', async () => {
    const x = await world();
    const c = await x.m.create(x.sandbox.id, ctr());
    const err = await x.m.checkpoint(c.id, join(x.out, 'c.tar'), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(`container "${c.id}" is CREATED; only a running container can be checkpointed`);
    await expect(x.m.checkpoint('f'.repeat(64), join(x.out, 'c.tar'), 0)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('is FAILED_PRECONDITION with the reason when the node cannot checkpoint', async () => {
    const unavailable = await world({ criu: { available: false, criu: '', version: '', reason: 'CRIU binary "criu" not found' } });
    const c1 = await running(unavailable);
    await expect(unavailable.m.checkpoint(c1.id, join(unavailable.out, 'c.tar'), 0)).rejects.toThrow(
      `cannot checkpoint container "${c1.id}": checkpointing is not available on this node: CRIU binary "criu" not found`,
    );
    const off = await world({ noCheckpoint: true });
    const c2 = await running(off);
    await expect(off.m.checkpoint(c2.id, join(off.out, 'c.tar'), 0)).rejects.toThrow(`cannot checkpoint container "${c2.id}": checkpoint/restore is not configured`);
    const plain = await world({ plainRuntime: true });
    const c3 = await running(plain);
    const err = await plain.m.checkpoint(c3.id, join(plain.out, 'c.tar'), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(`cannot checkpoint container "${c3.id}": runtime handler "runc" cannot checkpoint`);
  });

  it("records the container's bind mounts for a restore elsewhere", async () => {
    const x = await world();
    mkdirSync(join(x.root, 'vol'));
    writeFileSync(join(x.root, 'secret.txt'), 's');
    const c = await running(x, {
      mounts: [
        { containerPath: '/vol', hostPath: join(x.root, 'vol') },
        { containerPath: '/etc/secret.txt', hostPath: join(x.root, 'secret.txt'), readonly: true },
      ],
    });
    const location = join(x.out, 'binds.tar');
    await x.m.checkpoint(c.id, location, 0);
    const binds = JSON.parse(tarRead(location, 'bind.mounts')) as { source: string; destination: string; file_type: string }[];
    expect(binds.filter((b) => b.destination === '/vol' || b.destination === '/etc/secret.txt').map((b) => [b.destination, b.file_type])).toEqual([
      ['/vol', 'directory'],
      ['/etc/secret.txt', 'file'],
    ]);
  });

  it('a checkpoint interrupted by the daemon dying is cleaned up at the next start: temporary archive gone, container resumed', async () => {
    const x = await world();
    const c = await running(x);
    const work = join(x.root, 'root', 'checkpoints', `${c.id.slice(0, 12)}-abcdef`);
    mkdirSync(join(work, 'checkpoint'), { recursive: true });
    const partial = join(x.out, '.c.tar.abcdef.partial');
    writeFileSync(partial, 'half an archive');
    writeFileSync(join(work, 'journal.json'), JSON.stringify({ containerId: c.id, location: join(x.out, 'c.tar'), partial }));
    mkdirSync(join(x.root, 'root', 'checkpoints', 'restore-123456'), { recursive: true }); // an archive being read: no journal
    const state = x.runtime.containers.get(c.id);
    if (state) state.status = 'paused';
    await x.make().recover();
    expect(existsSync(partial)).toBe(false);
    expect(readdirSync(join(x.root, 'root', 'checkpoints'))).toEqual([]);
    expect(x.w.callsOf('runtime.resume')).toEqual([`runtime.resume ${c.id.slice(0, 6)}`]);
  });

  it('an interrupted checkpoint of a container removed since, or not left paused, only loses its temporary archive', async () => {
    const x = await world();
    const c = await running(x);
    const ckpts = join(x.root, 'root', 'checkpoints');
    const journal = (name: string, containerId: string): string => {
      mkdirSync(join(ckpts, name), { recursive: true });
      const partial = join(x.out, `.c.tar.${name}.partial`);
      writeFileSync(partial, 'half');
      writeFileSync(join(ckpts, name, 'journal.json'), JSON.stringify({ containerId, location: join(x.out, 'c.tar'), partial }));
      return partial;
    };
    const gone = journal('gone', 'f'.repeat(64));
    const notPaused = journal('running', c.id);
    await x.make().recover();
    expect([existsSync(gone), existsSync(notPaused)]).toEqual([false, false]);
    expect(readdirSync(ckpts)).toEqual([]);
    expect(x.w.callsOf('runtime.resume')).toEqual([]);
    expect(x.m.get(c.id).status.state).toBe('RUNNING');
  });
});

describe('restore from a checkpoint archive (CreateContainer with the archive as image)', () => {
  async function checkpointed(x: World_) {
    const c = await running(x, { mounts: [{ containerPath: '/data/vol', hostPath: join(x.root, 'old-vol') }] });
    const archive = join(x.out, 'c.tar');
    await x.m.checkpoint(c.id, archive, 0);
    return { c, archive };
  }

  it('creates the container from the archive: its config with the request over it, its layer, its log', async () => {
    const x = await world();
    const { c, archive } = await checkpointed(x);
    mkdirSync(join(x.root, 'new-vol'));
    const r = await x.m.create(
      x.sandbox.id,
      ctr({
        image: { image: archive },
        command: ['ignored'],
        labels: { restored: 'yes' },
        logPath: 'restored.log',
        mounts: [{ containerPath: '/data/vol', hostPath: join(x.root, 'new-vol') }],
      }),
    );
    expect(r.status.state).toBe('CREATED');
    expect(r.restore).toMatchObject({ archive, sourceContainerId: c.id });
    expect(r.image.id).toBe(c.image.id);
    expect(r.config.command).toEqual(['sh', '-c', 'count']);
    expect(r.config.labels).toEqual({ app: 'counter', restored: 'yes' });
    expect(r.config.annotations).toEqual({ note: 'checkpointed' });
    expect(r.config.mounts).toEqual([{ containerPath: '/data/vol', hostPath: join(x.root, 'new-vol') }]);
    // The writable layer came back into the new container's upper dir; the log to its new path.
    const upper = join(x.root, 'root', 'containers', r.id, 'upper');
    expect(readFileSync(join(upper, 'data', 'new.txt'), 'utf8')).toBe('written by the container\n');
    expect(readFileSync(r.logPath, 'utf8')).toContain('n=1');
    // Nothing runs yet: the runtime was not asked to create it.
    expect(x.runtime.containers.has(r.id)).toBe(false);
    expect(x.w.callsOf('images.resolve')).toContain(`images.resolve ${c.image.id}`);
  });

  it('StartContainer restores it under the monitor, joining the pod namespaces; the unpacked archive goes', async () => {
    const x = await world();
    const { archive } = await checkpointed(x);
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    await x.m.start(r.id);
    expect(x.m.get(r.id).status.state).toBe('RUNNING');
    const started = x.monitor.started.at(-1);
    expect(started?.restore).toEqual({ imagePath: join(x.root, 'root', 'containers', r.id, 'restore', 'checkpoint'), runtimeArgs: [`--criu=${CRIU_OK.criu}`], runtimeOpts: ['--tcp-established', '--file-locks'] });
    // CRIU is told (through runc's org.criu.config) to join the pod's UTS and IPC namespaces.
    const spec = JSON.parse(readFileSync(join(r.bundle, 'config.json'), 'utf8')) as Spec;
    expect(spec.annotations?.['org.criu.config']).toBe(join(x.root, 'root', 'containers', r.id, 'restore', 'criu.conf'));
    expect(existsSync(join(x.root, 'root', 'containers', r.id, 'restore'))).toBe(false);
    // Checkpointing the restored container says it was restored.
    const again = join(x.out, 'again.tar');
    await x.m.checkpoint(r.id, again, 0);
    expect(JSON.parse(tarRead(again, 'config.dump'))).toMatchObject({ id: r.id, restored: true });
  });

  it("a restore that fails at start says CRIU's reason; the container is EXITED (StartError)", async () => {
    const x = await world();
    const { archive } = await checkpointed(x);
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    x.w.faults.hooks.set('monitor.start', () => writeFileSync(join(r.bundle, 'restore.log'), '(00.10) Error (criu/files-reg.c:1): File data/new.txt has bad size\n(00.11) Error (criu/cr-restore.c:2): Restoring FAILED.\n'));
    x.w.faults.fail('monitor.start', new Error('runc restore failed'));
    const err = await x.m.start(r.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(`restoring container "${r.id}" from "${archive}" failed: Error (criu/files-reg.c:1): File data/new.txt has bad size | Error (criu/cr-restore.c:2): Restoring FAILED.`);
    expect(x.m.get(r.id).status).toMatchObject({ state: 'EXITED', reason: 'StartError' });
  });

  it('a restore that fails leaves nothing running: the monitor process group and what CRIU restored in the cgroup are killed, the cgroup removed', async () => {
    const parent = `/nexcage-unit-restore-${process.pid}`;
    const x = await world({ cgroupParent: parent });
    const { archive } = await checkpointed(x);
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    // What a half-done restore leaves: conmon (leading its own process group), and a process CRIU
    // restored in the container's cgroup (here the pids hierarchy).
    const conmon = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const restored = spawn('sleep', ['60'], { stdio: 'ignore' });
    const cgroup = join('/sys/fs/cgroup/pids', containerCgroup('cgroupfs', r.cgroupsPath));
    try {
      mkdirSync(cgroup, { recursive: true });
      writeFileSync(join(cgroup, 'cgroup.procs'), String(restored.pid));
      x.w.faults.hooks.set('monitor.start', () => writeFileSync(join(r.bundle, 'conmon.pid'), String(conmon.pid)));
      x.w.faults.fail('monitor.start', new Error('restore timed out'));
      await expect(x.m.start(r.id)).rejects.toThrow(`restoring container "${r.id}" from "${archive}" failed: restore timed out`);
      await until('the monitor and the restored process to be killed', () => conmon.signalCode === 'SIGKILL' && restored.signalCode === 'SIGKILL');
      expect(existsSync(cgroup)).toBe(false);
    } finally {
      conmon.kill('SIGKILL');
      restored.kill('SIGKILL');
      for (const d of [cgroup, dirname(cgroup), join('/sys/fs/cgroup/pids', parent)]) if (existsSync(d)) rmdirSync(d);
    }
  });

  it("a restore that fails without a CRIU log says the monitor's error", async () => {
    const x = await world();
    const { archive } = await checkpointed(x);
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    x.w.faults.fail('monitor.start', new Error('conmon: runtime restore failed'));
    await expect(x.m.start(r.id)).rejects.toThrow(`restoring container "${r.id}" from "${archive}" failed: conmon: runtime restore failed`);
  });

  it('a restored container removed before it was started leaves nothing', async () => {
    const x = await world();
    const { archive } = await checkpointed(x);
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    await x.m.stop(r.id, 0);
    expect(x.m.get(r.id).status.state).toBe('EXITED');
    await x.m.remove(r.id);
    expect(existsSync(join(x.root, 'root', 'containers', r.id))).toBe(false);
  });

  it('a restored container not started yet is still CREATED after a daemon restart, and starts', async () => {
    const x = await world();
    const { archive } = await checkpointed(x);
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    for (const m of x.managers) m.close();
    const again = x.make();
    await again.recover();
    expect(again.get(r.id).status.state).toBe('CREATED');
    await again.start(r.id);
    expect(again.get(r.id).status.state).toBe('RUNNING');
  });

  it('of a container without a log: the archive has none and the restored container gets none', async () => {
    const x = await world();
    const c = await running(x, { logPath: '' });
    const archive = join(x.out, 'nolog.tar');
    await x.m.checkpoint(c.id, archive, 0);
    expect(tarList(archive)).not.toContain('container.log');
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive }, logPath: 'restored.log' }));
    expect(existsSync(r.logPath)).toBe(false);
    await x.m.start(r.id);
    expect(x.m.get(r.id).status.state).toBe('RUNNING');
  });

  it('into a name in use is ALREADY_EXISTS; the archive is not unpacked for it', async () => {
    const x = await world();
    const { c, archive } = await checkpointed(x);
    const err = await x.m.create(x.sandbox.id, { ...ctr({ image: { image: archive } }), metadata: c.config.metadata }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlreadyExistsError);
    expect(readdirSync(join(x.root, 'root', 'containers'))).toEqual([c.id]);
  });

  it('pulls the checkpoint\'s image when it is not on the node, and refuses another image under that name', async () => {
    const x = await world();
    const { archive } = await checkpointed(x);
    const busybox = x.images.images.get('busybox');
    x.images.images.delete('busybox');
    // Pulled: the same image again.
    const w = x.w;
    w.faults.hooks.set('checkpoint.pull', () => {
      if (busybox) x.images.images.set('busybox', busybox);
    });
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    expect(x.pulled).toEqual(['busybox']);
    expect(r.image.id).toBe(busybox?.id);
    // The name now points at another image: refused, naming both.
    x.images.images.delete('busybox');
    const other = x.images.addImage('busybox-rebuilt');
    x.images.images.delete('busybox-rebuilt');
    w.faults.hooks.set('checkpoint.pull', () => {
      x.images.images.set('busybox', other);
    });
    const err = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(`image "busybox" is now ${other.id}, not ${busybox?.id} the checkpoint "${archive}" was made from`);
    // The pull brings nothing.
    x.images.images.delete('busybox');
    w.faults.hooks.delete('checkpoint.pull');
    await expect(x.m.create(x.sandbox.id, ctr({ image: { image: archive } }))).rejects.toThrow(`image "busybox" of checkpoint "${archive}" could not be found after pulling it`);
  });

  it('pulls the image by the digest it was checkpointed with when there is one', async () => {
    const x = await world();
    const busybox = x.images.images.get('busybox');
    if (!busybox) throw new Error('no busybox');
    busybox.repoDigests = ['registry.example/busybox@sha256:' + 'b'.repeat(64)];
    const { archive } = await checkpointed(x);
    x.images.images.delete('busybox');
    x.w.faults.hooks.set('checkpoint.pull', () => x.images.images.set(busybox.repoDigests[0] as string, busybox));
    const r = await x.m.create(x.sandbox.id, ctr({ image: { image: archive } }));
    expect(x.pulled).toEqual([busybox.repoDigests[0]]);
    expect(r.image).toMatchObject({ id: busybox.id, ref: busybox.repoDigests[0] });
  });

  it('a writable layer that would write outside through a symlink is INVALID_ARGUMENT; nothing of the container is left', async () => {
    const x = await world();
    const { c, archive } = await checkpointed(x);
    // Repacked with a rootfs diff whose second member goes through the symlink its first one makes.
    const unpacked = join(x.root, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['--extract', '--file', archive, '--directory', unpacked]);
    const outside = join(x.root, 'outside');
    mkdirSync(outside);
    const a = join(x.root, 'layer-a');
    mkdirSync(a);
    symlinkSync(outside, join(a, 'etc'));
    const b = join(x.root, 'layer-b');
    mkdirSync(join(b, 'etc'), { recursive: true });
    writeFileSync(join(b, 'etc', 'cron.d'), 'owned');
    execFileSync('tar', ['--create', '--file', join(unpacked, 'rootfs-diff.tar'), '--directory', a, 'etc', '--directory', b, 'etc/cron.d']);
    const hostile = join(x.out, 'hostile.tar');
    execFileSync('tar', ['--create', '--file', hostile, '--directory', unpacked, ...readdirSync(unpacked)]);
    const request = ctr({ image: { image: hostile } });
    const err = await x.m.create(x.sandbox.id, request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe('checkpoint archive: rootfs-diff.tar could not be unpacked: tar: etc/cron.d: Cannot open: Not a directory');
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(join(x.root, 'root', 'containers'))).toEqual([c.id]);
    expect([...x.mounts.mounted].filter((m) => !m.includes(c.id))).toEqual([]);
    expect([...x.images.leased.keys()]).toEqual([c.id]);
    // The name is free again: the good archive restores under it.
    expect((await x.m.create(x.sandbox.id, { ...request, image: { image: archive } })).config.metadata.name).toBe(request.metadata.name);
  });

  it('is refused when the node cannot restore', async () => {
    const x = await world();
    const { archive } = await checkpointed(x);
    const off = await world({ noCheckpoint: true });
    await expect(off.m.create(off.sandbox.id, ctr({ image: { image: archive } }))).rejects.toThrow(/cannot restore container "c\d+" from ".*": checkpoint\/restore is not configured/);
  });
});
