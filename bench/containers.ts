// bench/containers: the container lifecycle through the built daemon (real runc, conmon, CNI,
// overlayfs, a local docker-registry), against raw `runc run --detach` + `runc delete --force` of
// the same OCI bundle (the daemon's own config.json for a container of the same image):
//   - "start from scratch": RunPodSandbox + CreateContainer + StartContainer, 50 runs;
//   - CreateContainer / StartContainer / StopContainer / RemoveContainer each;
//   - ListContainers and ListPodSandbox latency with 200 running containers (answered from memory),
//     from a grpc-go client as the kubelet is (bench/go/list-client.go) and from Node clients;
//   - daemon RSS idle, with 100 and with 200 containers; conmon RSS per container.
// Everything it makes (pods, containers, registry, dirs, cgroups, bridge) is removed at the end.
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { call } from '../src/cri/grpc/client.js';
import type { ContainerConfig } from '../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { run } from '../src/lib/exec.js';
import { pushContainerImages } from '../test/support/containers.js';
import { TestRegistry } from '../test/support/registry.js';
import { removeCgroups, single, summarize, timeMs, type Row, type Suite } from './lib.js';
import { BenchDaemon, benchConfig, rssMiB } from './bench-daemon.js';
import { buildGoListClient, goListCalls } from './go-list-client.js';

const RUNS = 50;
const LIST_CONTAINERS = 200;
const PER_POD = 10;
const LIST_CALLS = 500;



export const suite: Suite = {
  name: 'containers',
  async run(): Promise<Row[]> {
    const rows: Row[] = [];
    const tag = randomBytes(3).toString('hex');
    const dir = await mkdtemp('/tmp/nexcage-bench-containers-');
    const cgroupParent = `/nexcage-bench-${tag}`;
    const bridge = `nxb${tag}`;
    const registry = await TestRegistry.start({ parent: dir });
    const d = new BenchDaemon(dir, benchConfig(dir, { cni: { confDirs: [join(dir, 'cni-conf')], defaultBridge: bridge, defaultSubnet: '10.251.0.0/16' } }));
    const pods: string[] = [];
    const rawRoot = join(dir, 'raw-runc');
    try {
      const images = await pushContainerImages(registry);
      await d.start();
      const rt = d.client.runtime;
      await call(d.client.image, 'PullImage', { image: { image: images.busybox } }, 120_000);
      const daemonPid = d.proc!.pid!;
      await new Promise((r) => setTimeout(r, 1000)); // let start-up garbage settle before the idle figure
      rows.push(single('daemon RSS idle (image pulled, no pods)', 'MiB', rssMiB(daemonPid)));

      let seq = 0;
      const podConfig = (): PodSandboxConfig => {
        const name = `bpod${++seq}`;
        return {
          metadata: { name, uid: `uid-${name}-${tag}`, namespace: 'bench', attempt: 0 },
          hostname: name,
          log_directory: join(dir, 'logs', name),
          labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'bench', 'io.kubernetes.pod.uid': `uid-${name}-${tag}`, app: 'bench' },
          annotations: { 'kubernetes.io/config.seen': '2026-11-27T00:00:00.000000000Z', 'kubernetes.io/config.source': 'api' },
          linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
        };
      };
      const ctrConfig = (cmd: string[] = ['sleep', '100000']): ContainerConfig => {
        const name = `bctr${++seq}`;
        // Labels and annotations as the kubelet sets them: they are most of a listed container's bytes.
        return {
          metadata: { name, attempt: 0 },
          image: { image: images.busybox },
          command: cmd,
          log_path: `${name}.log`,
          labels: { 'io.kubernetes.container.name': name, 'io.kubernetes.pod.name': `pod-of-${name}`, 'io.kubernetes.pod.namespace': 'bench', 'io.kubernetes.pod.uid': `uid-${name}-${tag}` },
          annotations: {
            'io.kubernetes.container.hash': 'a1b2c3d4',
            'io.kubernetes.container.restartCount': '0',
            'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
            'io.kubernetes.container.terminationMessagePolicy': 'File',
            'io.kubernetes.pod.terminationGracePeriod': '30',
          },
        };
      };

      // -- start from scratch, and each operation
      const scratch: number[] = [];
      const create: number[] = [];
      const start: number[] = [];
      const stop: number[] = [];
      const remove: number[] = [];
      const runPod: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const pc = podConfig();
        let podId = '';
        let ctrId = '';
        const t0 = process.hrtime.bigint();
        runPod.push(await timeMs(async () => (podId = (await call(rt, 'RunPodSandbox', { config: pc }, 60_000)).pod_sandbox_id)));
        create.push(await timeMs(async () => (ctrId = (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: ctrConfig(), sandbox_config: pc })).container_id)));
        start.push(await timeMs(() => call(rt, 'StartContainer', { container_id: ctrId })));
        scratch.push(Number(process.hrtime.bigint() - t0) / 1e6);
        stop.push(await timeMs(() => call(rt, 'StopContainer', { container_id: ctrId, timeout: 0 })));
        remove.push(await timeMs(() => call(rt, 'RemoveContainer', { container_id: ctrId })));
        await call(rt, 'StopPodSandbox', { pod_sandbox_id: podId }, 60_000);
        await call(rt, 'RemovePodSandbox', { pod_sandbox_id: podId }, 60_000);
      }
      rows.push(summarize('start from scratch (RunPodSandbox + CreateContainer + StartContainer)', 'ms', scratch));
      rows.push(summarize('  RunPodSandbox', 'ms', runPod));
      rows.push(summarize('  CreateContainer', 'ms', create));
      rows.push(summarize('  StartContainer', 'ms', start));
      rows.push(summarize('StopContainer (timeout 0: SIGKILL, wait for the exit file)', 'ms', stop));
      rows.push(summarize('RemoveContainer (runc delete, umount, rm)', 'ms', remove));

      // -- raw runc on the same bundle: the daemon's own config.json for a container of the same image
      const refPod = podConfig();
      const refPodId = (await call(rt, 'RunPodSandbox', { config: refPod }, 60_000)).pod_sandbox_id;
      pods.push(refPodId);
      const template = (await call(rt, 'CreateContainer', { pod_sandbox_id: refPodId, config: ctrConfig(), sandbox_config: refPod })).container_id;
      const info = JSON.parse((await call(rt, 'ContainerStatus', { container_id: template, verbose: true })).info.info ?? '{}') as {
        runtimeSpec: { linux: { cgroupsPath: string } };
      };
      const raw: number[] = [];
      const rawDelete: number[] = [];
      await mkdir(rawRoot, { recursive: true });
      for (let i = 0; i < RUNS; i++) {
        const id = `raw-${tag}-${i}`;
        const bundle = join(dir, 'raw', id);
        await mkdir(bundle, { recursive: true });
        const spec = structuredClone(info.runtimeSpec);
        spec.linux.cgroupsPath = `${cgroupParent}/${id}`;
        await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
        raw.push(
          await timeMs(
            () =>
              new Promise<void>((ok, fail) => {
                const p = spawn('runc', ['--root', rawRoot, 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' });
                p.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`runc run exited ${code}`))));
              }),
          ),
        );
        rawDelete.push(await timeMs(() => run('runc', ['--root', rawRoot, 'delete', '--force', id])));
      }
      rows.push(summarize('reference: raw runc run --detach (same bundle)', 'ms', raw));
      rows.push(summarize('reference: raw runc delete --force', 'ms', rawDelete));
      await call(rt, 'RemoveContainer', { container_id: template });

      // -- 200 running containers: list latency, RSS
      const monitorPids: number[] = [];
      let rss100 = NaN;
      for (let p = 0; p < LIST_CONTAINERS / PER_POD; p++) {
        const pc = podConfig();
        const podId = (await call(rt, 'RunPodSandbox', { config: pc }, 60_000)).pod_sandbox_id;
        pods.push(podId);
        for (let c = 0; c < PER_POD; c++) {
          const id = (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: ctrConfig(), sandbox_config: pc })).container_id;
          await call(rt, 'StartContainer', { container_id: id });
          if (monitorPids.length < 20) {
            const v = JSON.parse((await call(rt, 'ContainerStatus', { container_id: id, verbose: true })).info.info ?? '{}') as { monitorPid: number };
            monitorPids.push(v.monitorPid);
          }
        }
        if ((p + 1) * PER_POD === 100) rss100 = rssMiB(daemonPid);
      }
      // Two clients: the typed one (its protobufjs decode of a ~160 KB answer is in its figure) and a
      // raw one that takes the answer's bytes as they come, which is the daemon's answer plus transport:
      // the kubelet's Go decode costs a fraction of the Node client's.
      const rawClient = new grpc.Client(`unix://${d.config.socket as string}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 16 << 20 });
      const rawCall = (method: string): Promise<Buffer> =>
        new Promise((ok, fail) =>
          rawClient.makeUnaryRequest(`/runtime.v1.RuntimeService/${method}`, (x: Buffer) => x, (b: Buffer) => b, Buffer.alloc(0), (e, r) => (e || !r ? fail(e ?? new Error('no answer')) : ok(r))),
        );
      const listC: number[] = [];
      const listP: number[] = [];
      const rawC: number[] = [];
      const rawP: number[] = [];
      let answerBytes = 0;
      for (let i = 0; i < LIST_CALLS; i++) {
        listC.push(await timeMs(() => call(rt, 'ListContainers', {})));
        listP.push(await timeMs(() => call(rt, 'ListPodSandbox', {})));
        rawC.push(await timeMs(async () => (answerBytes = (await rawCall('ListContainers')).length)));
        rawP.push(await timeMs(() => rawCall('ListPodSandbox')));
      }
      rawClient.close();
      // The kubelet's view: grpc-go back to back, and at 100 calls/s (still 100x its 1 s poll).
      const goClient = await buildGoListClient(dir);
      const socket = d.config.socket as string;
      const goC = await goListCalls(goClient, socket, 'ListContainers', LIST_CALLS);
      const goCPaced = await goListCalls(goClient, socket, 'ListContainers', LIST_CALLS, 10);
      const goP = await goListCalls(goClient, socket, 'ListPodSandbox', LIST_CALLS);
      const count = (await call(rt, 'ListContainers', {})).containers.length;
      rows.push(summarize(`ListContainers with ${count} containers (grpc-go client as the kubelet, back to back; ${Math.round(goC.bytes / 1024)} KiB)`, 'ms', goC.ms));
      rows.push(summarize(`ListContainers with ${count} containers (grpc-go client, 100 calls/s)`, 'ms', goCPaced.ms));
      rows.push(summarize(`ListPodSandbox with ${pods.length} pods (grpc-go client, back to back)`, 'ms', goP.ms));
      rows.push(summarize(`ListContainers with ${count} containers (typed Node client, decode included)`, 'ms', listC));
      rows.push(summarize(`ListContainers with ${count} containers (raw client: daemon answer + transport, ${Math.round(answerBytes / 1024)} KiB)`, 'ms', rawC));
      rows.push(summarize(`ListPodSandbox with ${pods.length} pods (raw client)`, 'ms', rawP));
      rows.push(summarize(`ListPodSandbox with ${pods.length} pods (typed Node client)`, 'ms', listP));
      rows.push(single('daemon RSS with 100 running containers', 'MiB', rss100));
      rows.push(single(`daemon RSS with ${count} running containers`, 'MiB', rssMiB(daemonPid)));
      const conmon = monitorPids.map(rssMiB).filter((x) => !Number.isNaN(x));
      rows.push(summarize('conmon RSS per container', 'MiB', conmon));
      return rows;
    } finally {
      if (d.proc && d.proc.exitCode === null) {
        for (const id of pods) await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
      }
      await d.stop();
      for (const id of existsSync(rawRoot) ? readdirSync(rawRoot) : []) await run('runc', ['--root', rawRoot, 'delete', '--force', id], { allowFailure: true });
      await registry.stop();
      await removeCgroups(cgroupParent);
      await run('ip', ['link', 'del', bridge], { allowFailure: true });
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  },
};
