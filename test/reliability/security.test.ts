// Security defaults, checked on a live daemon and real containers: the socket's mode and owner;
// streaming and metrics bound to loopback by default; a container cannot read the host's
// /proc/kcore, cannot write sysfs, has no CAP_SYS_ADMIN unless privileged; the RuntimeDefault
// seccomp profile refuses unshare(CLONE_NEWUSER); an image User that names no user fails clearly.
import * as grpc from '@grpc/grpc-js';
import { statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { createCtr, ctrConfig, failure, podConfig, pull, pushContainerImages, runCtr, runPod, type ContainerImages } from '../support/containers.js';
import { buildImage, busyboxEntries, layer, pushImage } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, runCli, useTestDir } from '../e2e/harness.js';

const CAP_SYS_ADMIN = 21n;
const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let ghostRef = '';
let d: Daemon;
let pod: PodSandboxConfig;
let podId = '';
let privPod: PodSandboxConfig;
let privPodId = '';

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  images = await pushContainerImages(registry);
  await pushImage(registry.pushTarget, 'test/ghost-user', ['latest'], buildImage({ layers: [await layer(busyboxEntries(), 'gzip')], config: { User: 'ghost' } }));
  ghostRef = `${registry.host}/test/ghost-user:latest`;
  // No streaming override: its default is what is checked (metrics keep the harness's port 0).
  d = t.track(new Daemon(t.dir(), 'sec'));
  await d.start();
  await pull(d, images.busybox);
  pod = podConfig(t.dir());
  podId = await runPod(d, pod);
  privPod = podConfig(t.dir());
  privPod.linux!.security_context = { ...privPod.linux!.security_context, privileged: true };
  privPodId = await runPod(d, privPod);
}, 300_000);

afterAll(async () => {
  for (const id of [podId, privPodId].filter(Boolean)) {
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id }, 60_000).catch(() => undefined);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 60_000).catch(() => undefined);
  }
  await d?.stop();
  await registry?.stop();
}, 300_000);

async function sh(id: string, script: string): Promise<{ code: number; out: string }> {
  const r = await call(d.client.runtime, 'ExecSync', { container_id: id, cmd: ['/bin/busybox', 'sh', '-c', script], timeout: 20 }, 30_000);
  return { code: r.exit_code, out: r.stdout.toString() + r.stderr.toString() };
}

function sleeper(extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return ctrConfig(images.busybox, ['sleep', '100000'], extra);
}

function capEff(status: string): bigint {
  const m = /CapEff:\s+([0-9a-f]+)/.exec(status);
  if (!m) throw new Error(`no CapEff in ${status}`);
  return BigInt(`0x${m[1]}`);
}

describe('security defaults', () => {
  it('creates the CRI socket as a root-owned socket with mode 0660', () => {
    const st = statSync(d.socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect([st.uid, st.gid]).toEqual([0, 0]);
  });

  it('binds metrics and streaming to loopback by default (effective config and the live listeners)', async () => {
    const empty = t.dir().join('empty.json');
    writeFileSync(empty, '{}');
    const cfg = JSON.parse((await runCli(['config', '--config', empty])).stdout) as { metricsAddress: string; streaming: { address: string } };
    expect(cfg.metricsAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(cfg.streaming.address).toBe('127.0.0.1');
    // The live daemon: the exec URL it hands out points at loopback.
    const ctr = await runCtr(d, podId, pod, sleeper());
    const res = await call(d.client.runtime, 'Exec', { container_id: ctr, cmd: ['true'], stdout: true });
    expect(new URL(res.url).hostname).toBe('127.0.0.1');
    const serving = d.logs().find((l) => l.msg === 'nexcage serving');
    expect(String(serving?.metricsAddress)).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('hides the host /proc/kcore and keeps sysfs read-only in an unprivileged container', async () => {
    const ctr = await runCtr(d, podId, pod, sleeper());
    const kcore = await sh(ctr, 'head -c 16 /proc/kcore 2>/dev/null | wc -c');
    // Masked (bind-mounted /dev/null) or absent: not one byte of host memory readable.
    expect(kcore.out.trim().split('\n').pop()).toBe('0');
    // This VM's kernel has no /proc/kcore, so the spec is checked as well: it is masked.
    const st = await call(d.client.runtime, 'ContainerStatus', { container_id: ctr, verbose: true });
    const spec = (JSON.parse(st.info.info ?? '{}') as { runtimeSpec?: { linux?: { maskedPaths?: string[]; readonlyPaths?: string[] } } }).runtimeSpec;
    expect(spec?.linux?.maskedPaths).toContain('/proc/kcore');
    const sysfs = await sh(ctr, 'touch /sys/kernel/nexcage-probe 2>&1; echo 1 > /sys/kernel/mm/ksm/run 2>&1; echo done');
    expect(sysfs.out).toMatch(/Read-only file system/);
  });

  it('drops CAP_SYS_ADMIN unless the container is privileged', async () => {
    const plain = await runCtr(d, podId, pod, sleeper());
    const caps = capEff((await sh(plain, 'cat /proc/self/status')).out);
    expect(caps & (1n << CAP_SYS_ADMIN)).toBe(0n);
    // Asking for a bad capability in the clear is refused; a privileged container has it.
    const priv = await runCtr(d, privPodId, privPod, sleeper({ linux: { security_context: { privileged: true } } }));
    const privCaps = capEff((await sh(priv, 'cat /proc/self/status')).out);
    expect(privCaps & (1n << CAP_SYS_ADMIN)).toBe(1n << CAP_SYS_ADMIN);
    // A privileged container in a pod that is not privileged is refused.
    const err = await failure(createCtr(d, podId, pod, sleeper({ linux: { security_context: { privileged: true } } })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/privileged/);
  });

  it('RuntimeDefault seccomp refuses unshare(CLONE_NEWUSER) and other namespace calls', async () => {
    const ctr = await runCtr(d, podId, pod, sleeper({ linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault' } } } }));
    const userns = await sh(ctr, '/bin/busybox unshare -U true 2>&1; echo "rc=$?"');
    expect(userns.out).toMatch(/rc=[1-9]/);
    expect(userns.out).toMatch(/Operation not permitted/);
    const mountns = await sh(ctr, '/bin/busybox unshare -m true 2>&1; echo "rc=$?"');
    expect(mountns.out).toMatch(/rc=[1-9]/);
  });

  it('fails CreateContainer clearly when the image User names no user in the image', async () => {
    await pull(d, ghostRef);
    const err = await failure(createCtr(d, podId, pod, ctrConfig(ghostRef, ['sleep', '1'])));
    expect([grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION, grpc.status.NOT_FOUND]).toContain(err.code);
    expect(err.details).toMatch(/ghost/);
    expect(err.details).toMatch(/passwd|user/i);
    // Nothing left: the name is free again.
    expect((await call(d.client.runtime, 'ListContainers', { filter: { pod_sandbox_id: podId } })).containers.every((c) => c.image?.image !== ghostRef)).toBe(true);
  });
});
