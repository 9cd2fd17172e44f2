// CheckpointContainer's work once the container is known to be running and CRIU usable: the
// container is paused (a guard resumes it should the daemon die), `runtime checkpoint
// --leave-running` dumps it with CRIU into a work dir under <rootDir>/checkpoints, its writable
// layer's changes and its log are taken, it is resumed, and the archive (layout in
// container-checkpoint-archive.ts) is written next to `location` under a temporary name, synced
// and renamed over it: a failure or a timeout leaves the container running and no archive. Each
// checkpoint keeps a journal in its work dir, so a daemon killed mid-way removes the temporary
// archive and resumes the container at its next start (sweepCheckpointLeftovers).
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { CommandError, DeadlineExceededError, FailedPreconditionError, InternalError, InvalidArgumentError, errorMessage } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { nowNs } from '../../lib/time.js';
import { runtimeLogErrors, type OciRuntime } from '../engine/oci-runtime.js';
import { runtimeOrUndefined } from '../engine/runtime-sweep.js';
import type { Mount, Spec } from '../oci-spec/types.js';
import {
  BIND_MOUNTS,
  CHECKPOINT_DIR,
  CONFIG_DUMP,
  CONTAINER_LOG,
  DUMP_LOG,
  GO_ZERO_TIME,
  NEXCAGE_DUMP,
  SPEC_DUMP,
  goArch,
  rfc3339FromNs,
  type ConfigDump,
  type NexcageDump,
} from './container-checkpoint-archive.js';
import { startCheckpointHelper } from './container-checkpoint-helper.js';
import { writeRootfsDiff } from './container-checkpoint-rootfs.js';
import { checkpointBytes, checkpointDuration, checkpointsTotal } from './container-checkpoint-metrics.js';
import { CRIU_FLAGS, checkpointsDir, requireCheckpointSupport } from './container-checkpoint-support.js';
import type { ContainerManagerOptions } from './container-deps.js';
import type { Container } from './container-record.js';
import type { ContainerStore } from './container-store.js';

export interface CheckpointResult {
  location: string;
  bytes: number;
  durationMs: number;
  /** The part the container was paused for (dump, layer and log). */
  pausedMs: number;
}

interface Journal {
  containerId: string;
  location: string;
  partial: string;
}

/** Files of the work dir that are not part of the archive. */
const RUNTIME_LOG = 'runtime.log';
const RUNTIME_OUT = 'runtime.out';
const JOURNAL = 'journal.json';

/** Container paths whose content lives on a mount rather than in the writable layer. */
const RUNTIME_MOUNTS = new Set(['/dev', '/dev/shm', '/proc', '/run/secrets', '/sys']);

/** The CRI default when a CheckpointContainer request gives no timeout. */
export const DEFAULT_CHECKPOINT_TIMEOUT_SEC = 300;

/**
 * CheckpointContainer for a container found by the manager (its lock held): checks the request
 * and the node, checkpoints, counts and logs.
 */
export async function checkpointRunning(o: ContainerManagerOptions, c: Container, location: string, timeoutSec: number): Promise<CheckpointResult> {
  await checkLocation(location);
  if (c.status.state !== 'RUNNING') throw new FailedPreconditionError(`container "${c.id}" is ${c.status.state}; only a running container can be checkpointed`);
  const runtime = o.runtimeFor(c.runtimeHandler);
  const criu = await requireCheckpointSupport(o, runtime, `checkpoint container "${c.id}"`);
  const timeoutMs = (timeoutSec > 0 ? timeoutSec : DEFAULT_CHECKPOINT_TIMEOUT_SEC) * 1000;
  try {
    const r = await checkpointContainer(o, c, runtime, criu, location, timeoutMs);
    checkpointsTotal.inc({ result: 'ok' });
    checkpointDuration.observe(r.durationMs / 1000);
    checkpointBytes.observe(r.bytes);
    o.log.info({ containerId: c.id, location, bytes: r.bytes, durationMs: r.durationMs, pausedMs: r.pausedMs }, 'container checkpointed');
    return r;
  } catch (err) {
    checkpointsTotal.inc({ result: err instanceof DeadlineExceededError ? 'timeout' : 'error' });
    o.log.warn({ containerId: c.id, location, error: errorMessage(err) }, 'checkpoint failed; the container keeps running');
    throw err;
  }
}

async function checkLocation(location: string): Promise<void> {
  if (location === '') throw new InvalidArgumentError('CheckpointContainer: location (the archive to write) is required');
  if (!isAbsolute(location)) throw new InvalidArgumentError(`CheckpointContainer: location "${location}" must be an absolute path`);
  const dir = await stat(dirname(location)).catch(() => undefined);
  if (!dir?.isDirectory()) throw new InvalidArgumentError(`CheckpointContainer: location "${location}": directory "${dirname(location)}" does not exist`);
  if ((await stat(location).catch(() => undefined))?.isDirectory()) throw new InvalidArgumentError(`CheckpointContainer: location "${location}" is a directory; it names the archive file to write`);
}

export async function checkpointContainer(o: ContainerManagerOptions, c: Container, runtime: OciRuntime, criu: { criu: string; version: string }, location: string, timeoutMs: number): Promise<CheckpointResult> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const left = (step: string): number => {
    const ms = deadline - Date.now();
    if (ms <= 0) throw new DeadlineExceededError(`checkpoint of container "${c.id}" did not finish within ${Math.round(timeoutMs / 1000)} s (at: ${step})`);
    return ms;
  };
  const token = randomBytes(6).toString('hex');
  const work = join(checkpointsDir(o), `${c.id.slice(0, 12)}-${token}`);
  const partial = join(dirname(location), `.${basename(location)}.${token}.partial`);
  const log = o.log.child({ containerId: c.id, location });
  await mkdir(work, { recursive: true, mode: 0o700 });
  const journal: Journal = { containerId: c.id, location, partial };
  await writeFile(join(work, JOURNAL), JSON.stringify(journal), { mode: 0o600 });
  const spec = JSON.parse(await readFile(join(c.bundle, 'config.json'), 'utf8')) as Spec;
  let pausedMs: number;
  try {
    const pausedAt = Date.now();
    const base = [runtime.binary, ...runtime.globalArgs()];
    const helper = startCheckpointHelper(
      {
        pause: [...base, 'pause', c.id],
        checkpoint: [runtime.binary, ...runtime.checkpointArgs!(c.id, { criu: criu.criu, imagePath: join(work, CHECKPOINT_DIR), workPath: work, leaveRunning: true, ...CRIU_FLAGS, logPath: join(work, RUNTIME_LOG) })],
        resume: [...base, 'resume', c.id],
      },
      join(work, RUNTIME_OUT),
    );
    try {
      const outcome = await withDeadline(helper.dumped, deadline, () => new DeadlineExceededError(`checkpoint of container "${c.id}" did not finish within ${Math.round(timeoutMs / 1000)} s (CRIU dump)`));
      if (!outcome.paused) throw new InternalError(`checkpoint of container "${c.id}" failed: the runtime could not pause it: ${await runtimeFailure(work)}`);
      if (outcome.exitCode !== 0) throw await dumpFailure(work, c.id);
      const layers = await o.images.layerDirs(c.image.id);
      await writeRootfsDiff(c.upperDir, layers, (spec.mounts ?? []).map((m) => m.destination), work, left('writable layer'));
      await copyLog(c.logPath, join(work, CONTAINER_LOG));
      await helper.finish();
    } catch (err) {
      // A dump that ran out of time is killed with the helper; the container is resumed here instead.
      helper.kill();
      await runtime.resume(c.id).catch(() => undefined);
      throw err;
    } finally {
      pausedMs = Date.now() - pausedAt;
    }
    const logBytes = await stat(join(work, CONTAINER_LOG)).then((s) => s.size, () => 0);
    await writeMetadata(o, c, runtime.handler, spec, criu, work, logBytes);
    const entries = (await readdir(work)).filter((n) => ![JOURNAL, RUNTIME_LOG, RUNTIME_OUT].includes(n));
    await run('tar', ['--create', '--file', partial, '--directory', work, '--numeric-owner', '--', ...entries.sort()], { timeoutMs: left('archive') });
    const fh = await open(partial, 'r+');
    try {
      await fh.chmod(0o600); // every memory page of the container is in there
      await fh.sync();
    } finally {
      await fh.close();
    }
    left('archive');
    await rename(partial, location);
    const bytes = (await stat(location)).size;
    return { location, bytes, durationMs: Date.now() - started, pausedMs };
  } catch (err) {
    await rm(partial, { force: true }).catch(() => undefined);
    if (err instanceof CommandError && /timed out/.test(err.message)) throw new DeadlineExceededError(`checkpoint of container "${c.id}" did not finish within ${Math.round(timeoutMs / 1000)} s: ${err.message}`, { cause: err });
    throw err;
  } finally {
    await rm(work, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, work }, 'checkpoint work dir could not be removed'));
  }
}

/** runc says little ("criu failed: type NOTIFY errno 0"); CRIU's dump.log says why. */
async function dumpFailure(work: string, id: string): Promise<Error> {
  const dumpLog = await readFile(join(work, DUMP_LOG), 'utf8').catch(() => '');
  const errors = dumpLog
    .split('\n')
    .filter((l) => /\bError\b/.test(l) && !/RLIMIT_NOFILE/.test(l))
    .map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, '').trim())
    .slice(-3);
  const why = errors.length > 0 ? errors.join(' | ') : await runtimeFailure(work);
  return new InternalError(`checkpoint of container "${id}" failed: CRIU dump: ${why}`);
}

/** The runtime's own error lines (its JSON log), else what it printed. */
async function runtimeFailure(work: string): Promise<string> {
  const logged = runtimeLogErrors(await readFile(join(work, RUNTIME_LOG), 'utf8').catch(() => ''));
  if (logged.length > 0) return logged.slice(-3).join(' | ');
  const out = (await readFile(join(work, RUNTIME_OUT), 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
  return out || 'no reason given';
}

/** `p`, or the error `late()` makes once the deadline passed. */
function withDeadline<T>(p: Promise<T>, deadline: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(late()), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function copyLog(logPath: string, to: string): Promise<void> {
  if (logPath === '') return;
  await copyFile(logPath, to).catch(() => undefined); // no log written yet: none in the archive
}

async function writeMetadata(o: ContainerManagerOptions, c: Container, handler: string, spec: Spec, criu: { version: string }, work: string, logBytes: number): Promise<void> {
  const now = nowNs();
  const sandbox = o.sandboxes.find(c.podSandboxId);
  const restored = c.restore !== undefined;
  const configDump: ConfigDump = {
    id: c.id,
    name: c.config.metadata.name,
    rootfsImage: c.image.requested,
    rootfsImageRef: c.image.ref,
    rootfsImageName: c.image.requested,
    runtime: handler,
    createdTime: rfc3339FromNs(c.createdAtNs),
    checkpointedTime: rfc3339FromNs(now),
    restoredTime: restored && c.status.startedAtNs ? rfc3339FromNs(c.status.startedAtNs) : GO_ZERO_TIME,
    restored,
  };
  const dump: NexcageDump = {
    version: 1,
    architecture: goArch(),
    containerId: c.id,
    config: c.config,
    image: c.image,
    runtimeHandler: c.runtimeHandler,
    pod: { id: c.podSandboxId, name: sandbox?.metadata.name ?? '', namespace: sandbox?.metadata.namespace ?? '', uid: sandbox?.metadata.uid ?? '' },
    log: { path: c.logPath, bytes: logBytes },
    criu: { version: criu.version, ...CRIU_FLAGS },
    createdAt: rfc3339FromNs(c.createdAtNs),
    checkpointedAt: rfc3339FromNs(now),
  };
  await writeFile(join(work, CONFIG_DUMP), JSON.stringify(configDump, null, 2), { mode: 0o600 });
  await writeFile(join(work, SPEC_DUMP), JSON.stringify(spec, null, 2), { mode: 0o600 });
  await writeFile(join(work, NEXCAGE_DUMP), JSON.stringify(dump, null, 2), { mode: 0o600 });
  const binds = await bindMounts(spec.mounts ?? []);
  if (binds.length > 0) await writeFile(join(work, BIND_MOUNTS), JSON.stringify(binds, null, 2), { mode: 0o600 });
}

/** CRI-O's bind.mounts: what a restore elsewhere must recreate for CRIU (a file or a directory). */
async function bindMounts(mounts: readonly Mount[]): Promise<{ source: string; destination: string; file_type: string; permissions: number }[]> {
  const out = [];
  for (const m of mounts) {
    if (RUNTIME_MOUNTS.has(m.destination) || !(m.type === 'bind' || (m.options ?? []).some((x) => x === 'bind' || x === 'rbind'))) continue;
    const st = await stat(m.source ?? '').catch(() => undefined);
    if (!st) continue;
    out.push({ source: m.source ?? '', destination: m.destination, file_type: st.isDirectory() ? 'directory' : 'file', permissions: st.mode & 0o777 });
  }
  return out;
}

/**
 * At daemon start, before anything else runs: what checkpoints interrupted by the daemon's death
 * left. Each one's temporary archive goes, and its container, if still paused, is resumed (the
 * guard should have done it already).
 */
export async function sweepCheckpointLeftovers(o: ContainerManagerOptions, store: ContainerStore): Promise<void> {
  const dir = checkpointsDir(o);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const work = join(dir, name);
    const journal = await readFile(join(work, JOURNAL), 'utf8')
      .then((t) => JSON.parse(t) as Journal)
      .catch(() => undefined);
    if (journal) {
      await rm(journal.partial, { force: true }).catch(() => undefined);
      const c = store.get(journal.containerId);
      const runtime = c ? runtimeOrUndefined(o.runtimeFor, c.runtimeHandler) : undefined;
      const st = c ? await runtime?.state(c.id).catch(() => undefined) : undefined;
      if (c && st?.status === 'paused') {
        await runtime?.resume(c.id).catch((err: unknown) => o.log.error({ err, containerId: c.id }, 'resuming a container paused by an interrupted checkpoint failed'));
      }
      o.log.warn({ containerId: journal.containerId, location: journal.location }, 'a checkpoint was interrupted by the daemon stopping: its temporary archive and work dir are removed');
    }
    await rm(work, { recursive: true, force: true });
  }
}
