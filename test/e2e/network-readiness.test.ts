// A node without the built-in network (cni.defaultNetwork false, as the packaged config ships):
// NetworkReady stays false and pods with a pod network are refused until the cluster's CNI config
// appears; the config is picked up without a restart, as containerd and CRI-O do.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { Daemon, podPins, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

function podConfig(name: string, network: 'POD' | 'NODE' = 'POD'): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'e2e', attempt: 0 },
    hostname: name,
    log_directory: '',
    labels: {},
    annotations: {},
    linux: { cgroup_parent: t.dir().cgroupParent, security_context: { namespace_options: { network, pid: 'POD', ipc: 'POD' } } },
  };
}

describe('a node whose built-in network is off', () => {
  it('reports NetworkReady false and refuses pod networks until a CNI config appears, then serves them without a restart', async () => {
    const dir = t.dir();
    const confDir = dir.join('net.d');
    mkdirSync(confDir);
    const d = t.track(new Daemon(dir, 'nonet', { config: { cni: { confDirs: [confDir], defaultNetwork: false, ...dir.podNetwork } } }));
    await d.start();
    const netReady = async (): Promise<{ status: boolean; reason: string; message: string } | undefined> =>
      (await call(d.client.runtime, 'Status', {})).status?.conditions.find((c) => c.type === 'NetworkReady');

    expect(await netReady()).toMatchObject({ status: false, reason: 'NetworkPluginNotReady', message: expect.stringContaining(`no CNI config in ${confDir}`) });
    const runtimeReady = (await call(d.client.runtime, 'Status', {})).status?.conditions.find((c) => c.type === 'RuntimeReady');
    expect(runtimeReady?.status).toBe(true);

    await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig('early') })).rejects.toMatchObject({
      code: 9,
      details: expect.stringMatching(/network plugin not initialized: no CNI config in .*net\.d and the built-in default network is off \(cni\.defaultNetwork\)/),
    });
    expect(podPins(d)).toEqual([]);
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);

    // Host-network pods (the CNI's own DaemonSet) still run on a node whose network is not ready.
    const host = await call(d.client.runtime, 'RunPodSandbox', { config: podConfig('cni-installer', 'NODE') });

    const conf = {
      cniVersion: '1.0.0',
      name: 'cluster',
      plugins: [
        {
          type: 'bridge',
          bridge: dir.podNetwork.defaultBridge,
          isGateway: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: dir.podNetwork.defaultSubnet }]], dataDir: join(d.config().stateDir as string, 'cni', 'networks') },
        },
      ],
    };
    writeFileSync(join(confDir, '10-cluster.conflist'), JSON.stringify(conf));
    await waitFor('NetworkReady true', async () => (await netReady())?.status === true);
    const pod = await call(d.client.runtime, 'RunPodSandbox', { config: podConfig('late') });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: pod.pod_sandbox_id });
    expect(st.status?.network?.ip).toMatch(new RegExp(`^${dir.podNetwork.defaultSubnet.split('.').slice(0, 3).join('\\.')}\\.`));
    for (const id of [pod.pod_sandbox_id, host.pod_sandbox_id]) {
      await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
      await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    }
    await d.stop();
  });
});
