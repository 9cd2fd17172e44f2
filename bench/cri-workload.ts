// The same CRI work for any runtime behind a CRI socket (nexcage, containerd): pod and container
// lifecycles timed per call, exec over the streaming server (SPDY, as kubectl does), and filling
// the node with running containers. Only CRI calls: nothing here knows which daemon answers.
import { call, type CriClient } from '../src/cri/grpc/client.js';
import type { ContainerConfig } from '../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { SpdyClient } from '../test/support/spdy-client.js';
import { timeMs } from './lib.js';

export const LIFECYCLE_STEPS = [
  'RunPodSandbox',
  'CreateContainer',
  'StartContainer',
  'ContainerStatus',
  'ExecSync',
  'Exec (SPDY)',
  'StopContainer',
  'RemoveContainer',
  'StopPodSandbox',
  'RemovePodSandbox',
] as const;
export type LifecycleStep = (typeof LIFECYCLE_STEPS)[number];

export class CriWorkload {
  private seq = 0;
  readonly pods: string[] = [];

  constructor(
    readonly name: string,
    readonly client: CriClient,
    readonly opts: { tag: string; logDir: string; cgroupParent: string; image: string },
  ) {}

  podConfig(): PodSandboxConfig {
    const name = `${this.name.slice(0, 2)}pod${++this.seq}`;
    const uid = `uid-${name}-${this.opts.tag}`;
    return {
      metadata: { name, uid, namespace: 'bench', attempt: 0 },
      hostname: name,
      log_directory: `${this.opts.logDir}/${name}`,
      labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'bench', 'io.kubernetes.pod.uid': uid },
      annotations: { 'kubernetes.io/config.seen': '2026-11-27T00:00:00.000000000Z', 'kubernetes.io/config.source': 'api' },
      linux: { cgroup_parent: this.opts.cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    };
  }

  /** Labels and annotations as the kubelet sets them: they are most of a listed container's bytes. */
  ctrConfig(command: string[] = ['sleep', '100000']): ContainerConfig {
    const name = `c${++this.seq}`;
    return {
      metadata: { name, attempt: 0 },
      image: { image: this.opts.image },
      command,
      log_path: `${name}.log`,
      labels: { 'io.kubernetes.container.name': name, 'io.kubernetes.pod.name': `pod-of-${name}`, 'io.kubernetes.pod.namespace': 'bench', 'io.kubernetes.pod.uid': `uid-${name}-${this.opts.tag}` },
      annotations: {
        'io.kubernetes.container.hash': 'a1b2c3d4',
        'io.kubernetes.container.restartCount': '0',
        'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
        'io.kubernetes.container.terminationMessagePolicy': 'File',
        'io.kubernetes.pod.terminationGracePeriod': '30',
      },
    };
  }

  async pull(image: string): Promise<void> {
    await call(this.client.image, 'PullImage', { image: { image } }, 600_000);
  }

  async removeImage(image: string): Promise<void> {
    await call(this.client.image, 'RemoveImage', { image: { image } }, 120_000);
  }

  /** One pod with one container from nothing to nothing; each call timed (ms). */
  async lifecycle(): Promise<Record<LifecycleStep, number>> {
    const rt = this.client.runtime;
    const pc = this.podConfig();
    const t = {} as Record<LifecycleStep, number>;
    let podId = '';
    let ctrId = '';
    t.RunPodSandbox = await timeMs(async () => (podId = (await call(rt, 'RunPodSandbox', { config: pc }, 60_000)).pod_sandbox_id));
    t.CreateContainer = await timeMs(async () => (ctrId = (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: this.ctrConfig(), sandbox_config: pc }, 60_000)).container_id));
    t.StartContainer = await timeMs(() => call(rt, 'StartContainer', { container_id: ctrId }, 60_000));
    t.ContainerStatus = await timeMs(() => call(rt, 'ContainerStatus', { container_id: ctrId }));
    t.ExecSync = await timeMs(async () => {
      const r = await call(rt, 'ExecSync', { container_id: ctrId, cmd: ['echo', 'bench'], timeout: 30 }, 60_000);
      if (r.exit_code !== 0 || r.stdout.toString() !== 'bench\n') throw new Error(`${this.name}: ExecSync gave exit ${r.exit_code}, ${JSON.stringify(r.stdout.toString())}`);
    });
    t['Exec (SPDY)'] = await timeMs(() => this.execOverSpdy(ctrId, ['true']));
    t.StopContainer = await timeMs(() => call(rt, 'StopContainer', { container_id: ctrId, timeout: 0 }, 60_000));
    t.RemoveContainer = await timeMs(() => call(rt, 'RemoveContainer', { container_id: ctrId }, 60_000));
    t.StopPodSandbox = await timeMs(() => call(rt, 'StopPodSandbox', { pod_sandbox_id: podId }, 60_000));
    t.RemovePodSandbox = await timeMs(() => call(rt, 'RemovePodSandbox', { pod_sandbox_id: podId }, 60_000));
    return t;
  }

  /** What `kubectl exec` costs: Exec URL, SPDY upgrade, the streams, until the exit Status. */
  async execOverSpdy(containerId: string, cmd: string[]): Promise<void> {
    const { url } = await call(this.client.runtime, 'Exec', { container_id: containerId, cmd, tty: false, stdin: false, stdout: true, stderr: true });
    const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    try {
      const error = await c.createStream({ streamType: 'error' });
      await c.createStream({ streamType: 'stdout' });
      await c.createStream({ streamType: 'stderr' });
      const status = (await error.all()).toString();
      if (status !== '' && !status.includes('"Success"')) throw new Error(`${this.name}: exec ended with ${status}`);
    } finally {
      c.close();
    }
  }

  /** A running pod with one container created, not started; returns the container's id. */
  async createdContainer(): Promise<string> {
    const rt = this.client.runtime;
    const pc = this.podConfig();
    const podId = (await call(rt, 'RunPodSandbox', { config: pc }, 60_000)).pod_sandbox_id;
    this.pods.push(podId);
    return (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: this.ctrConfig(), sandbox_config: pc }, 60_000)).container_id;
  }

  /** A running pod with `containers` running containers; returns the pod id. */
  async runningPod(containers: number, command?: string[]): Promise<{ podId: string; containerIds: string[] }> {
    const rt = this.client.runtime;
    const pc = this.podConfig();
    const podId = (await call(rt, 'RunPodSandbox', { config: pc }, 60_000)).pod_sandbox_id;
    this.pods.push(podId);
    const containerIds: string[] = [];
    for (let i = 0; i < containers; i++) {
      const id = (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: this.ctrConfig(command), sandbox_config: pc }, 60_000)).container_id;
      await call(rt, 'StartContainer', { container_id: id }, 60_000);
      containerIds.push(id);
    }
    return { podId, containerIds };
  }

  /** Stops and removes every pod this workload started (their containers with them). */
  async removePods(): Promise<void> {
    const rt = this.client.runtime;
    for (const id of this.pods.splice(0)) {
      await call(rt, 'StopPodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
      await call(rt, 'RemovePodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
    }
  }
}
