// StopPodSandbox's and RemovePodSandbox's work on a locked pod, also the retry of what a failed
// RunPodSandbox left (an UNKNOWN pod): every step is idempotent, so running it again after a
// partial failure finishes what is left. Order: the pod's containers, then the infra (SIGKILL,
// wait for its exit), then the runtime record and CNI DEL side by side, then the netns, the shm
// mount, the idmapped infra rootfs (pods with their own user namespace) and the monitor's files;
// the record is NOTREADY only once all of that went through.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NativeIdmap } from '../engine/idmap-mounts.js';
import type { ExitInfo } from '../engine/exit-watcher.js';
import { runtimeOrUndefined } from '../engine/runtime-sweep.js';
import { podUserns } from '../oci-spec/userns.js';
import type { ContainerHooks, Sandbox } from './sandbox-config.js';
import { hostShmMounts, type SandboxManagerOptions } from './sandbox-deps.js';
import type { SandboxStore } from './sandbox-store.js';

/** Stop the pod; returns the stopped record (undefined when it is gone). Throws, record unchanged, when a step fails. */
export async function stopSandbox(o: SandboxManagerOptions, store: SandboxStore, hooks: ContainerHooks | undefined, id: string): Promise<Sandbox | undefined> {
  const s = store.get(id);
  if (!s) return undefined; // removed while we waited for the lock
  if (hooks) await hooks.stopAll(id, 0);
  const runtime = runtimeOrUndefined(o.runtimeFor, s.runtimeHandler);
  if (runtime && s.pid > 0) {
    // SIGKILL as containerd does for the infra; the exit file (written by conmon once it reaped
    // the process) says when it is gone, without spawning `runc state` in a loop.
    await runtime.kill(id, 'KILL').catch((err: unknown) => o.log.debug({ err, podSandboxId: id }, 'kill of infra failed (already gone?)'));
    await waitInfraExited(o, id, s.pid);
  }
  // With the infra dead, deleting it and tearing the network down are independent: run both.
  // DEL always runs on stop, even when the infra or netns is already gone (releases the IP).
  const netnsPath = s.netnsPath;
  const steps = await Promise.allSettled([
    runtime ? runtime.delete(id, { force: true }) : Promise.resolve(),
    !s.hostNetwork && !s.networkDown && netnsPath ? o.network.tearDown(id, netnsPath) : Promise.resolve(),
  ]);
  for (const step of steps) if (step.status === 'rejected') throw step.reason;
  if (s.netnsPath) await o.netns.remove(s.netnsPath);
  if (s.shmPath) await (o.shm ?? hostShmMounts).unmount(s.shmPath);
  if (podUserns(s.namespaceOptions)) await unmountInfraRootfs(o, s);
  await o.monitor.cleanup(id);
  const exit = await o.exits.read(id);
  const { cleanup: _done, ...rest } = s;
  const next: Sandbox = { ...rest, state: 'NOTREADY', pid: 0, networkDown: true };
  if (exit) {
    next.exitCode = exit.exitCode;
    next.finishedAtNs = exit.finishedAtNs.toString();
  }
  await store.save(next);
  if (s.state === 'UNKNOWN') o.log.info({ podSandboxId: id }, 'cleanup left by a failed RunPodSandbox is done; the pod is NOTREADY');
  return next;
}

/** Whether Remove must stop the pod first (anything may still be running, mounted or addressed). */
export function needsStop(s: Sandbox): boolean {
  return s.state !== 'NOTREADY' || !s.networkDown || s.pid !== 0;
}

/** The idmapped clones of the infra rootfs (and of its layers) under the bundle. */
async function unmountInfraRootfs(o: SandboxManagerOptions, s: Sandbox): Promise<void> {
  const idmap = o.idmap ?? new NativeIdmap();
  await idmap.unmount(join(s.bundle, 'layers'));
  await idmap.unmount(join(s.bundle, 'rootfs'));
}

/** Delete a stopped pod's bundle, record and exit file; its name is free again. */
export async function removeStoppedSandbox(o: SandboxManagerOptions, store: SandboxStore, s: Sandbox): Promise<void> {
  // Never rm -r through a mount: an idmapped rootfs clone would take the infra rootfs with it.
  if (podUserns(s.namespaceOptions)) await unmountInfraRootfs(o, s);
  await rm(s.bundle, { recursive: true, force: true });
  await store.delete(s.id);
  await o.exits.remove(s.id);
}

/** The infra's exit as a NOTREADY record (undefined when nothing changes). */
export function exitedRecord(s: Sandbox | undefined, e: ExitInfo): Sandbox | undefined {
  if (!s || s.state !== 'READY') return undefined;
  return { ...s, state: 'NOTREADY', pid: 0, exitCode: e.exitCode, finishedAtNs: e.finishedAtNs.toString() };
}

/** Until conmon wrote the exit file, or the process is gone or a zombie (its conmon died too). */
async function waitInfraExited(o: SandboxManagerOptions, id: string, pid: number): Promise<void> {
  const deadline = Date.now() + (o.stopTimeoutMs ?? 10_000);
  let delay = 2;
  while (Date.now() < deadline) {
    if (await o.exits.read(id)) return;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || /^\d+ \(.*\) Z /.test(stat)) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
  o.log.warn({ podSandboxId: id }, 'infra still there after SIGKILL; deleting with --force');
}
