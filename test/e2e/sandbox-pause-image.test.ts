// The infra container from a configured pause image instead of the built-in rootfs: pulled on the
// first RunPodSandbox from a real registry (Debian docker-registry on 127.0.0.1), pinned, its two
// layers mounted as a read-only overlay shared by the pods, detached again when the daemon stops.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { buildImage, layer, pushImage } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  const init = await layer([{ path: 'pause', content: readFileSync('/usr/bin/catatonit'), mode: 0o755 }]);
  const etc = await layer([
    { path: 'etc', type: 'dir', mode: 0o755 },
    { path: 'etc/pause-image', content: 'v1\n' },
    { path: 'proc', type: 'dir', mode: 0o755 },
    { path: 'dev', type: 'dir', mode: 0o755 },
    { path: 'sys', type: 'dir', mode: 0o755 },
  ]);
  await pushImage(registry.pushTarget, 'test/pause', ['3.9'], buildImage({ layers: [init, etc], config: { Entrypoint: ['/pause'], Cmd: ['-P'], Env: ['PAUSE=1'] } }));
});

afterAll(async () => {
  await registry?.stop();
});

describe('infra container from a pause image', () => {
  it('pulls and pins the image on the first pod, runs its entrypoint read-only, and cleans up', async () => {
    const ref = `${registry.host}/test/pause:3.9`;
    const d = t.track(new Daemon(t.dir(), 'pause', { config: { pauseImage: ref, registry: { insecure: [registry.host] } } }));
    await d.start();
    const cfg: PodSandboxConfig = {
      metadata: { name: 'p', uid: 'uid-p', namespace: 'e2e', attempt: 0 },
      linux: { cgroup_parent: t.dir().cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: cfg });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    expect(st.status?.state).toBe('SANDBOX_READY');
    const info = JSON.parse(st.info.info ?? '{}') as { pid: number; runtimeSpec: { root: { path: string; readonly: boolean }; process: { args: string[]; env: string[] } } };
    expect(info.runtimeSpec.process.args).toEqual(['/pause', '-P']);
    expect(info.runtimeSpec.process.env).toContain('PAUSE=1');
    expect(info.runtimeSpec.root.readonly).toBe(true);
    expect(readFileSync(`/proc/${info.pid}/root/etc/pause-image`, 'utf8')).toBe('v1\n');
    const images = await call(d.client.image, 'ListImages', {});
    const pause = images.images.find((i) => i.repo_tags.includes(ref));
    expect(pause?.pinned).toBe(true);
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    await d.stop();
  });

  it('fails RunPodSandbox with FAILED_PRECONDITION naming a pause image that cannot be pulled', async () => {
    const d = t.track(new Daemon(t.dir(), 'nopause', { config: { pauseImage: `${registry.host}/test/missing:1`, registry: { insecure: [registry.host] } } }));
    await d.start();
    const cfg = { metadata: { name: 'q', uid: 'uid-q', namespace: 'e2e', attempt: 0 } };
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: cfg })).rejects.toMatchObject({ code: 9, details: expect.stringContaining('test/missing:1') });
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
    await d.stop();
  });
});
