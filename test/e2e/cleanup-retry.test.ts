// Cleanup that keeps its word: a RunPodSandbox that fails after CNI ADD, whose undo's CNI DEL fails
// too, keeps the pod (NOTREADY on the wire, UNKNOWN inside) with its netns and name instead of
// forgetting the leftover until the next restart; the next StopPodSandbox (or the background
// retry) finishes the DEL and the host-local IP is released. The CNI network here is a bridge
// whose plugin binary is a wrapper that fails the first DEL it sees.
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { Daemon, podPins, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

let n = 0;
function podConfig(): PodSandboxConfig {
  const name = `retry${++n}`;
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'e2e', attempt: 0 },
    hostname: name,
    log_directory: '',
    linux: { cgroup_parent: t.dir().cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

/** A daemon whose only CNI network is the flaky bridge; "broken" is a runtime that fails every create. */
function flakyDaemon(name: string, marker: string): Daemon {
  const dir = t.dir();
  const bin = dir.join(`${name}-cni-bin`);
  const conf = dir.join(`${name}-cni-conf`);
  mkdirSync(bin, { recursive: true });
  mkdirSync(conf, { recursive: true });
  const plugin = join(bin, 'flakybridge');
  writeFileSync(
    plugin,
    `#!/bin/sh
if [ "$CNI_COMMAND" = DEL ] && [ ! -e '${marker}' ]; then
  : > '${marker}'
  echo '{"cniVersion":"1.0.0","code":11,"msg":"injected: the first DEL fails"}'
  exit 1
fi
exec /usr/lib/cni/bridge
`,
  );
  chmodSync(plugin, 0o755);
  const network = {
    cniVersion: '1.0.0',
    name: 'flaky',
    plugins: [{ type: 'flakybridge', bridge: dir.podNetwork.defaultBridge, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: dir.podNetwork.defaultSubnet }]], dataDir: join(dir.path, name, 'state', 'cni', 'networks') } }],
  };
  writeFileSync(join(conf, '10-flaky.conflist'), JSON.stringify(network));
  return t.track(
    new Daemon(dir, name, {
      config: { cni: { confDirs: [conf], binDirs: [bin, '/usr/lib/cni'], ...dir.podNetwork }, runtimes: { runc: { path: 'runc' }, broken: { path: '/bin/false' } } },
    }),
  );
}

function reservedIps(d: Daemon): string[] {
  const dir = join(d.config().stateDir as string, 'cni', 'networks', 'flaky');
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

describe('cleanup a failed RunPodSandbox could not finish', () => {
  it('keeps the pod NOTREADY with its IP and name when CNI DEL fails during the undo; the next StopPodSandbox completes it', async () => {
    const marker = t.dir().join('stop-del-failed-once');
    const d = flakyDaemon('stop', marker);
    await d.start();
    const config = podConfig();
    await expect(call(d.client.runtime, 'RunPodSandbox', { config, runtime_handler: 'broken' })).rejects.toMatchObject({ code: expect.any(Number) });
    expect(existsSync(marker)).toBe(true);
    // Not forgotten: listed as NOTREADY, its netns pinned and its IP still reserved for the retry of DEL.
    const listed = (await call(d.client.runtime, 'ListPodSandbox', {})).items;
    expect(listed.map((p) => [p.metadata?.name, p.state])).toEqual([[config.metadata!.name, 'SANDBOX_NOTREADY']]);
    const id = listed[0]!.id;
    expect(podPins(d)).toEqual([id]);
    expect(reservedIps(d)).toHaveLength(1);
    expect(d.logs().some((l) => l.podSandboxId === id && typeof l.msg === 'string' && l.msg.startsWith('RunPodSandbox left cleanup undone'))).toBe(true);
    // Its name stays reserved.
    await expect(call(d.client.runtime, 'RunPodSandbox', { config, runtime_handler: 'broken' })).rejects.toMatchObject({ code: 6 });

    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    expect(reservedIps(d)).toEqual([]);
    expect(podPins(d)).toEqual([]);
    expect((await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })).status?.state).toBe('SANDBOX_NOTREADY');
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
    // The name is free: a pod on the working runtime runs and is cleaned up normally.
    const ok = await call(d.client.runtime, 'RunPodSandbox', { config });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: ok.pod_sandbox_id });
    expect(reservedIps(d)).toEqual([]);
    await d.stop();
  });

  it('finishes the cleanup in the background when nobody calls Stop', async () => {
    const marker = t.dir().join('background-del-failed-once');
    const d = flakyDaemon('background', marker);
    await d.start();
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig(), runtime_handler: 'broken' })).rejects.toMatchObject({ code: expect.any(Number) });
    const id = (await call(d.client.runtime, 'ListPodSandbox', {})).items[0]!.id;
    expect(reservedIps(d)).toHaveLength(1);
    // The IP and the netns go first; the record is saved and the line logged after the last steps.
    const done = (): boolean => d.logs().some((l) => l.podSandboxId === id && l.msg === 'cleanup left by a failed RunPodSandbox is done; the pod is NOTREADY');
    await waitFor('the background retry to finish the cleanup', () => reservedIps(d).length === 0 && podPins(d).length === 0 && done(), 30_000);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    await d.stop();
  });
});
