// Localhost seccomp profiles in docker's format end to end: a rule gated on a capability with
// `includes.caps` is in a container's filter only when the container has that capability, and
// the config.json runc gets is plain OCI. Real runc, conmon, overlayfs and a local registry.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { ctrConfig, runCtr, status, type ContainerImages, startPodFixture, stopPodFixture } from '../support/containers.js';
import type { TestRegistry } from '../support/registry.js';
import { type Daemon, useTestDir } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId: string;

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'seccomp'));
}, 120_000);

afterAll(async () => {
  await stopPodFixture({ d, registry, podId }, 60_000);
});

describe('Localhost seccomp profile in docker format', () => {
  it('a rule with includes.caps CAP_SYS_ADMIN is not in effect for a default container, and is for one with CAP_SYS_ADMIN', async () => {
    const profile = t.dir().join('docker-format.json');
    // ENOSYS from the filter is told apart from the kernel's own EPERM for a process without CAP_SYS_ADMIN
    writeFileSync(
      profile,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, comment: 'only for CAP_SYS_ADMIN', includes: { caps: ['CAP_SYS_ADMIN'] }, excludes: {} },
          { names: ['getcwd'], action: 'SCMP_ACT_ALLOW', includes: {}, excludes: { caps: ['CAP_SYS_ADMIN'] } },
        ],
      }),
    );
    const run = async (addCaps: string[]): Promise<{ out: string; config: string }> => {
      const id = await runCtr(
        d,
        podId,
        pod,
        ctrConfig(images.busybox, ['sleep', '1000'], {
          linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: `localhost/${profile}` }, capabilities: { add_capabilities: addCaps } } },
        }),
      );
      const r = await call(d.client.runtime, 'ExecSync', { container_id: id, cmd: ['/bin/sh', '-c', 'busybox unshare -m true 2>&1; echo rc=$?'], timeout: 10 });
      const info = JSON.parse((await status(d, id, true)).info.info ?? '{}') as { bundle: string };
      const config = readFileSync(join(info.bundle, 'config.json'), 'utf8');
      await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
      await call(d.client.runtime, 'RemoveContainer', { container_id: id });
      return { out: r.stdout.toString(), config };
    };

    const plain = await run([]);
    // the kernel refuses (no CAP_SYS_ADMIN); the filter's ENOSYS rule is not there
    expect(plain.out).toMatch(/Operation not permitted[\s\S]*rc=1\n$/);
    const plainSeccomp = (JSON.parse(plain.config) as { linux: { seccomp: { syscalls: { names: string[] }[] } } }).linux.seccomp;
    expect(plainSeccomp.syscalls.map((r) => r.names)).toEqual([['getcwd']]);
    expect(plain.config).not.toMatch(/"includes"|"excludes"/);

    const admin = await run(['SYS_ADMIN']);
    expect(admin.out).toMatch(/Function not implemented[\s\S]*rc=1\n$/);
    const adminSeccomp = (JSON.parse(admin.config) as { linux: { seccomp: { syscalls: { names: string[]; errnoRet?: number }[] } } }).linux.seccomp;
    expect(adminSeccomp.syscalls).toEqual([{ names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    expect(admin.config).not.toMatch(/"includes"|"excludes"/);
  }, 60_000);
});
