// Helpers for the container e2e files: a registry with the standard test images plus a few
// container-specific ones, a daemon, pods and containers with short calls, CRI log parsing.
import type { ServiceError } from '@grpc/grpc-js';
import { call } from '../../src/cri/grpc/client.js';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { Daemon, type TestDir } from '../e2e/harness.js';
import { buildImage, busyboxEntries, layer, pushImage, pushTestImages } from './image-builder.js';
import { TestRegistry } from './registry.js';

export interface ContainerImages {
  busybox: string;
  user: string;
  userName: string;
  /** Entrypoint ["/bin/sh", "-c"], Cmd ["echo from-image-cmd"], StopSignal SIGUSR1, WorkingDir /work. */
  entry: string;
}

export async function pushContainerImages(registry: TestRegistry): Promise<ContainerImages> {
  await pushTestImages(registry.pushTarget);
  const base = await layer(busyboxEntries(), 'gzip');
  const entry = buildImage({
    layers: [base],
    config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo from-image-cmd; pwd'], StopSignal: 'SIGUSR1', WorkingDir: '/work', Env: ['PATH=/bin', 'FROM_IMAGE=yes', 'OVERRIDE=image'] },
  });
  await pushImage(registry.pushTarget, 'test/entry', ['latest'], entry);
  const h = registry.host;
  return { busybox: `${h}/test/busybox:latest`, user: `${h}/test/user:latest`, userName: `${h}/test/username:latest`, entry: `${h}/test/entry:latest` };
}

export async function pull(d: Daemon, ref: string): Promise<string> {
  return (await call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000)).image_ref;
}

let podSeq = 0;
export function podConfig(dir: TestDir, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  const name = `cpod${++podSeq}`;
  return {
    metadata: { name, uid: `uid-${name}-${dir.tag}`, namespace: 'e2e', attempt: 0 },
    hostname: name,
    log_directory: dir.join('logs', name),
    labels: { pod: name },
    linux: { cgroup_parent: dir.cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  };
}

export async function runPod(d: Daemon, config: PodSandboxConfig): Promise<string> {
  return (await call(d.client.runtime, 'RunPodSandbox', { config }, 60_000)).pod_sandbox_id;
}

let ctrSeq = 0;
export function ctrConfig(image: string, command: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig {
  const name = `c${++ctrSeq}`;
  return { metadata: { name, attempt: 0 }, image: { image }, command, log_path: `${name}.log`, labels: { ctr: name }, ...extra };
}

export async function createCtr(d: Daemon, podId: string, pod: PodSandboxConfig, config: ContainerConfig): Promise<string> {
  return (await call(d.client.runtime, 'CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: pod }, 60_000)).container_id;
}

export async function runCtr(d: Daemon, podId: string, pod: PodSandboxConfig, config: ContainerConfig): Promise<string> {
  const id = await createCtr(d, podId, pod, config);
  await call(d.client.runtime, 'StartContainer', { container_id: id });
  return id;
}

export async function status(d: Daemon, id: string, verbose = false) {
  return call(d.client.runtime, 'ContainerStatus', { container_id: id, verbose });
}

export async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

export interface CriLogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  tag: 'F' | 'P';
  text: string;
}

/** The CRI log format: "<RFC3339Nano> <stream> <F|P> <text>" per line; throws on any other line. */
export const CRI_LOG_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP]) (.*)$/;

export function parseCriLog(text: string): CriLogLine[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = CRI_LOG_LINE.exec(l);
      if (!m) throw new Error(`not a CRI log line: ${JSON.stringify(l)}`);
      return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', tag: m[3] as 'F' | 'P', text: m[4]! };
    });
}

/** What most container e2e files start from: a registry with the test images, a daemon that pulled them, one pod. */
export interface PodFixture {
  registry: TestRegistry;
  images: ContainerImages;
  d: Daemon;
  pod: PodSandboxConfig;
  podId: string;
}

export async function startPodFixture(
  t: { dir: () => TestDir; track: (d: Daemon) => Daemon },
  name: string,
  pullImages: 'busybox' | 'all' = 'busybox',
): Promise<PodFixture> {
  const registry = await TestRegistry.start({ parent: t.dir().path });
  const images = await pushContainerImages(registry);
  const d = t.track(new Daemon(t.dir(), name));
  await d.start();
  for (const ref of pullImages === 'all' ? Object.values(images) : [images.busybox]) await pull(d, ref);
  const pod = podConfig(t.dir());
  const podId = await runPod(d, pod);
  return { registry, images, d, pod, podId };
}

/** Removes the fixture's pod (and its containers), stops the daemon and the registry. */
export async function stopPodFixture(f: Partial<PodFixture>, removeTimeoutMs = 60_000): Promise<void> {
  if (f.podId && f.d) await call(f.d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: f.podId }, removeTimeoutMs).catch(() => undefined);
  await f.d?.stop();
  await f.registry?.stop();
}
