// The kubelet's own CRI request shapes, replayed: each fixture in test/fixtures/kubelet/ holds what
// pkg/kubelet/kuberuntime sends for a common pod (sandbox config, image calls, container configs,
// probes, stop timeouts), and this file makes the calls in the kubelet's order after laying out on
// the node what the kubelet lays out (pod cgroup, pod dir, volumes, etc-hosts, termination-log
// files, log dirs). Each pod must run, answer on its ports, pass its probes and tear down clean.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import { parseCriLog } from '../support/containers.js';
import {
  burstableOomScoreAdj,
  createPodCgroup,
  layOutPodDir,
  loadFixture,
  nodeDns,
  nodeHugepageLimits,
  podCgroupChildren,
  prepareContainer,
  pushWebImage,
  readFixture,
  removePodCgroup,
  renderContainer,
  tearDownPodDir,
  terminationLogId,
  writeEtcHosts,
  type ContainerTemplate,
  type KubeletFixture,
  type Vars,
} from '../support/kubelet-fixtures.js';
import { freePort, TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let d: Daemon;
let image: string;

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  await pushWebImage(registry.pushTarget);
  image = `${registry.host}/test/web:1.0`;
  d = t.track(new Daemon(t.dir(), 'kubelet'));
  await d.start();
}, 120_000);

afterAll(async () => {
  await d?.stop();
  await registry?.stop();
});

/** One replayed pod: the filled fixture, its vars, and what the runtime answered. */
interface Pod {
  name: string;
  f: KubeletFixture;
  vars: Vars;
  id: string;
  ip: string;
  /** Earlier sandboxes of the pod (not ready, left for garbage collection). */
  oldSandboxes: string[];
  cgroupsMade: string[];
  /** Every container instance the kubelet created, in order, with the config it sent. */
  containers: { id: string; config: ContainerConfig }[];
  /** Lifecycle hooks run: exit code and how long ExecSync took. */
  hookRuns: { hook: string; container: string; code: number; ms: number }[];
}

/** Pods started and not yet torn down (afterAll takes down what a failed test left). */
const pods: Pod[] = [];
/** Every cgroup dir the replays created, in creation order (pods share /kubepods/<qos>). */
const cgroupsMade: string[] = [];

const CA_CRT = '-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrM3Mtc2Vy\n-----END CERTIFICATE-----\n';
const SA_TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InJlcGxheSJ9.eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMifQ.c2lnbmF0dXJl';

/** The run-time values every fixture's placeholders take (see test/fixtures/kubelet/*.json). */
function podVars(name: string, extra: Vars = {}): Vars {
  const meta = (readFixture(name).sandbox as { metadata: { name: string; namespace: string } }).metadata;
  const uid = randomUUID();
  const node = t.dir().join('node');
  return {
    POD_UID: uid,
    POD_DIR: join(node, 'var/lib/kubelet/pods', uid),
    POD_LOG_DIR: join(node, 'var/log/pods', `${meta.namespace}_${meta.name}_${uid}`),
    IMAGE: image,
    HUGEPAGE_LIMITS: nodeHugepageLimits(),
    CA_CRT,
    SA_TOKEN,
    NAMESPACE_FILE: meta.namespace,
    HOST_DIR: join(node, 'srv', name),
    ...extra,
  };
}

/**
 * images/image_manager.go EnsureImageExists: ImageStatus, PullImage with the sandbox config when
 * absent; the answer (the image ID) is what generateContainerConfig puts in image.image. Then
 * getImageUser's ImageStatus by the name the pod spec gives.
 */
async function ensureImage(pod: Pod): Promise<string> {
  const spec = pod.f.image_spec;
  const st = await call(d.client.image, 'ImageStatus', { image: spec, verbose: false });
  let ref = st.image?.id ?? '';
  if (!st.image) ref = (await call(d.client.image, 'PullImage', { image: spec, sandbox_config: pod.f.sandbox }, 60_000)).image_ref;
  const user = await call(d.client.image, 'ImageStatus', { image: { image: pod.vars.IMAGE as string } });
  // generateLinuxContainerConfig uses run_as_user 0 when the image names no user, as the fixtures do
  expect(user.image?.username ?? '').toBe('');
  expect(Number(user.image?.uid?.value ?? 0)).toBe(0);
  expect(ref).not.toBe('');
  return ref;
}

/** kuberuntime_container.go startContainer: generate the config, CreateContainer, StartContainer. */
async function startContainer(pod: Pod, template: ContainerTemplate, attempt = 0, extra: Vars = {}): Promise<{ id: string; config: ContainerConfig }> {
  const imageId = await ensureImage(pod);
  const vars = { ...pod.vars, ...extra, IMAGE_ID: imageId, TERMINATION_LOG_ID: terminationLogId(), ATTEMPT: attempt, RESTART_COUNT: String(attempt) };
  const config = renderContainer(template, vars);
  prepareContainer(config, pod.f.sandbox.log_directory!);
  const { container_id: id } = await call(d.client.runtime, 'CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.f.sandbox }, 60_000);
  await call(d.client.runtime, 'StartContainer', { container_id: id }, 60_000);
  pod.containers.push({ id, config });
  // step 4: the postStart hook; a failing one makes the kubelet kill the container
  const hook = pod.f.hooks.find((h) => h.container === template.metadata.name && h.hook === 'postStart');
  if (hook) {
    const started = Date.now();
    const r = await call(d.client.runtime, 'ExecSync', { container_id: id, ...hook.request }, 120_000);
    pod.hookRuns.push({ hook: 'postStart', container: template.metadata.name, code: r.exit_code, ms: Date.now() - started });
  }
  return { id, config };
}

async function containerStatus(id: string) {
  const st = await call(d.client.runtime, 'ContainerStatus', { container_id: id, verbose: false });
  return st.status!;
}

async function exited(id: string, timeoutMs = 30_000) {
  return waitFor(`container ${id.slice(0, 12)} to exit`, async () => {
    const st = await containerStatus(id);
    return st.state === 'CONTAINER_EXITED' ? st : undefined;
  }, timeoutMs);
}

/** kuberuntime_sandbox.go createPodSandbox: RunPodSandbox, then PodSandboxStatus for the pod IP. */
async function createSandbox(pod: Pod): Promise<void> {
  const f = pod.f;
  pod.id = (await call(d.client.runtime, 'RunPodSandbox', { config: f.sandbox, runtime_handler: '' }, 60_000)).pod_sandbox_id;
  const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: false });
  expect(st.status?.state).toBe('SANDBOX_READY');
  pod.ip = st.status?.network?.ip ?? '';
  // makeMounts -> makeHostsMount: the pod IP is known now, so every container gets etc-hosts
  const hostNetwork = f.sandbox.linux?.security_context?.namespace_options?.network === 'NODE';
  writeEtcHosts(pod.vars.POD_DIR as string, pod.ip, f.sandbox.hostname ?? '', hostNetwork);
}

/** kuberuntime_manager.go SyncPod for a new pod: sandbox, then init containers in turn, then the containers. */
async function runPod(name: string, extra: Vars = {}): Promise<Pod> {
  const vars = podVars(name, extra);
  const f = loadFixture(name, vars);
  const made = createPodCgroup(f.node.pod_cgroup);
  cgroupsMade.push(...made);
  layOutPodDir(f.node);
  mkdirSync(f.sandbox.log_directory!, { recursive: true, mode: 0o755 });
  const pod: Pod = { name, f, vars, id: '', ip: '', oldSandboxes: [], cgroupsMade: made, containers: [], hookRuns: [] };
  pods.push(pod);
  await createSandbox(pod);
  for (const init of f.init_containers) {
    const { id } = await startContainer(pod, init);
    const done = await exited(id);
    expect({ exit: done.exit_code, reason: done.reason }).toEqual({ exit: 0, reason: 'Completed' });
  }
  for (const c of f.containers) await startContainer(pod, c);
  return pod;
}


/**
 * killPodWithSyncResult then garbage collection: StopContainer (grace period) for every running
 * container, StopPodSandbox; later per container ContainerStatus, remove its log file,
 * RemoveContainer; RemovePodSandbox. Then the kubelet's own cleanup: volumes, pod dir, pod cgroup,
 * which must have no container cgroup left in it.
 */
async function tearDown(pod: Pod): Promise<void> {
  pods.splice(pods.indexOf(pod), 1);
  let left: string[];
  try {
    await killPod(pod);
    for (const { id } of pod.containers) await removeContainer(id);
    for (const id of [...pod.oldSandboxes, pod.id]) if (id) await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 60_000);
  } finally {
    left = podCgroupChildren(pod.f.node.pod_cgroup);
    tearDownPodDir(pod.f.node);
    removePodCgroup(pod.cgroupsMade);
    rmSync(pod.vars.POD_DIR as string, { recursive: true, force: true });
  }
  expect(left, 'container cgroups left in the pod cgroup').toEqual([]);
}

/**
 * kuberuntime_manager.go killPodWithSyncResult: every running container killed in parallel
 * (killContainer: the preStop hook, then StopContainer with what is left of the grace period,
 * at least 2 s), then StopPodSandbox.
 */
async function killPod(pod: Pod): Promise<void> {
  const kill = async (id: string, name: string): Promise<void> => {
    if ((await containerStatus(id)).state !== 'CONTAINER_RUNNING') return;
    const started = Date.now();
    const hook = pod.f.hooks.find((h) => h.container === name && h.hook === 'preStop');
    if (hook) {
      const r = await call(d.client.runtime, 'ExecSync', { container_id: id, ...hook.request }, pod.f.stop.timeout * 1000);
      pod.hookRuns.push({ hook: 'preStop', container: name, code: r.exit_code, ms: Date.now() - started });
    }
    const timeout = Math.max(2, pod.f.stop.timeout - Math.floor((Date.now() - started) / 1000));
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout }, (timeout + 30) * 1000);
  };
  await Promise.all(pod.containers.map((c) => kill(c.id, c.config.metadata!.name!)));
  if (pod.id) await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: pod.id }, 60_000);
}

/** kuberuntime_gc.go removeContainer: the log file first (removeContainerLog), then RemoveContainer. */
async function removeContainer(id: string): Promise<void> {
  const st = await call(d.client.runtime, 'ContainerStatus', { container_id: id }).catch(() => undefined);
  if (st?.status?.log_path) rmSync(st.status.log_path, { force: true });
  await call(d.client.runtime, 'RemoveContainer', { container_id: id }, 60_000);
}

afterAll(async () => {
  // a failed test still takes its pod down, so the next fixture and the leak check start clean
  for (const pod of [...pods].reverse()) await tearDown(pod).catch(() => undefined);
  removePodCgroup(cgroupsMade);
  const left = cgroupsMade.filter((dir) => existsSync(dir));
  if (left.length > 0) throw new Error(`pod cgroups left behind:\n${left.join('\n')}`);
});

/**
 * What the kubelet reads back to rebuild the pod's state (getSandboxIDByPodUID,
 * getPodContainerStatuses): by the io.kubernetes.pod.uid label, with labels, annotations,
 * metadata and log paths as it sent them.
 */
async function expectKubeletView(pod: Pod): Promise<void> {
  const uid = pod.vars.POD_UID as string;
  const sandboxes = await call(d.client.runtime, 'ListPodSandbox', { filter: { label_selector: { 'io.kubernetes.pod.uid': uid } } });
  expect(sandboxes.items.map((s) => s.id).sort()).toEqual([...pod.oldSandboxes, pod.id].sort());
  const s = sandboxes.items.find((x) => x.id === pod.id)!;
  expect(s.state).toBe('SANDBOX_READY');
  expect(s.metadata).toEqual({ ...pod.f.sandbox.metadata });
  expect(s.labels).toEqual(pod.f.sandbox.labels);
  expect(s.annotations).toEqual(pod.f.sandbox.annotations);
  const listed = await call(d.client.runtime, 'ListContainers', { filter: { label_selector: { 'io.kubernetes.pod.uid': uid } } });
  expect(listed.containers.map((c) => c.id).sort()).toEqual(pod.containers.map((c) => c.id).sort());
  for (const { id, config } of pod.containers) {
    const c = listed.containers.find((x) => x.id === id)!;
    expect(c.metadata).toEqual(config.metadata);
    expect(c.labels).toEqual(config.labels);
    expect(c.annotations).toEqual(config.annotations);
    const st = await containerStatus(id);
    expect(st.metadata).toEqual(config.metadata);
    expect(st.log_path).toBe(join(pod.f.sandbox.log_directory!, config.log_path!));
    expect(st.labels).toEqual(config.labels);
    expect(st.annotations).toEqual(config.annotations);
    // getTerminationMessage reads the termination-log through the mounts ContainerStatus lists
    const tml = config.mounts!.find((m) => m.container_path === '/dev/termination-log');
    expect(st.mounts.find((m) => m.container_path === '/dev/termination-log')?.host_path).toBe(tml?.host_path);
  }
}

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return res.text();
}

/** Poll until `url` answers 200 (the server in the container takes a moment to listen). */
async function answers(url: string, timeoutMs = 15_000): Promise<string> {
  return waitFor(`${url} to answer`, () => httpGet(url).catch(() => undefined), timeoutMs);
}

async function exec(id: string, cmd: string[], timeout = 10) {
  const r = await call(d.client.runtime, 'ExecSync', { container_id: id, cmd, timeout }, (timeout + 30) * 1000);
  return { code: r.exit_code, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** A non-loopback IPv4 address of this node (hostPorts answer on every local address). */
function nodeIp(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name.startsWith('nxe')) continue;
    const a = (addrs ?? []).find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  throw new Error('no non-loopback IPv4 address on this node');
}

function first(pod: Pod, name: string): string {
  const c = pod.containers.find((x) => x.config.metadata?.name === name);
  if (!c) throw new Error(`no container ${name} in ${pod.name}`);
  return c.id;
}

/** The proc file of the container's main process. */
async function procOf(id: string, file: string): Promise<string> {
  const st = await call(d.client.runtime, 'ContainerStatus', { container_id: id, verbose: true });
  const { pid } = JSON.parse(st.info.info ?? '{}') as { pid: number };
  return readFileSync(`/proc/${pid}/${file}`, 'utf8');
}


function daemonOomScoreAdj(): number {
  return Number(readFileSync(`/proc/${d.pid!}/oom_score_adj`, 'utf8').trim());
}

/** The cgroup v1 path of the container's process for `controller` (from /proc/<pid>/cgroup). */
async function cgroupOf(id: string, controller: string): Promise<string> {
  for (const line of (await procOf(id, 'cgroup')).split('\n')) {
    const [, controllers, path] = line.split(':');
    if (controllers?.split(',').includes(controller)) return path!;
  }
  throw new Error(`no ${controller} cgroup for ${id}`);
}

function cgroupFile(controller: string, path: string, file: string): string {
  return readFileSync(join('/sys/fs/cgroup', controller, path, file), 'utf8').trim();
}

/** The prober's worker: ExecSync(cmd, timeout) once per period, `rounds` times; the results. */
async function probe(id: string, p: KubeletFixture['probes'][number]): Promise<{ code: number; ms: number }[]> {
  const results: { code: number; ms: number }[] = [];
  for (let i = 0; i < p.rounds; i++) {
    const started = Date.now();
    const r = await call(d.client.runtime, 'ExecSync', { container_id: id, ...p.request }, (Number(p.request.timeout ?? 0) + 120) * 1000);
    results.push({ code: r.exit_code, ms: Date.now() - started });
    // the probe ticker: the next probe one period after this one started (not a wait for a condition)
    const next = started + p.period_seconds * 1000 - Date.now();
    if (next > 0 && i < p.rounds - 1) await new Promise((r) => setTimeout(r, next));
  }
  return results;
}

describe('kubelet request replay', () => {
  it('deployment-container-port: a containerPort-only pod (port mapping host_port 0) runs and answers on the pod IP', async () => {
    const pod = await runPod('deployment-container-port');
    expect(pod.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await answers(`http://${pod.ip}:8080/`)).toBe('hello from the kubelet replay\n');
    expect((await containerStatus(first(pod, 'web'))).state).toBe('CONTAINER_RUNNING');
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('host-port: the hostPort answers on 127.0.0.1 and the node IP, the containerPort on the pod IP; gone after StopPodSandbox', async () => {
    const hostPort = await freePort();
    const pod = await runPod('host-port', { HOST_PORT: hostPort });
    expect(await answers(`http://127.0.0.1:${hostPort}/`)).toBe('hello from the kubelet replay\n');
    expect(await answers(`http://${nodeIp()}:${hostPort}/`)).toBe('hello from the kubelet replay\n');
    expect(await answers(`http://${pod.ip}:8080/`)).toBe('hello from the kubelet replay\n');
    await expectKubeletView(pod);
    await tearDown(pod);
    await expect(httpGet(`http://127.0.0.1:${hostPort}/`)).rejects.toThrow();
  }, 120_000);

  it('init-container: the init container runs to completion before the app starts; the app serves what it wrote', async () => {
    const pod = await runPod('init-container');
    const init = await containerStatus(first(pod, 'init'));
    const app = await containerStatus(first(pod, 'app'));
    expect({ exit: init.exit_code, reason: init.reason }).toEqual({ exit: 0, reason: 'Completed' });
    expect(BigInt(app.created_at)).toBeGreaterThan(BigInt(init.finished_at));
    expect(await answers(`http://${pod.ip}:8080/index.html`)).toBe('written by init\n');
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('exec-probes: liveness and readiness ExecSync every second inside their 1 s timeout pass, round after round', async () => {
    const pod = await runPod('exec-probes');
    const web = first(pod, 'web');
    await answers(`http://${pod.ip}:8080/healthz`);
    const runs = await Promise.all(pod.f.probes.map((p) => probe(web, p)));
    for (const [i, r] of runs.entries()) {
      expect(r.map((x) => x.code), `${pod.f.probes[i]!.probe} exit codes`).toEqual(Array(pod.f.probes[i]!.rounds).fill(0));
    }
    expect((await containerStatus(web)).state).toBe('CONTAINER_RUNNING');
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('kubelet-files: /etc/hosts is the kubelet\'s etc-hosts with the pod IP; /dev/termination-log reaches the host file ContainerStatus names', async () => {
    const pod = await runPod('kubelet-files');
    const id = first(pod, 'report');
    const st = await exited(id);
    expect({ exit: st.exit_code, reason: st.reason }).toEqual({ exit: 0, reason: 'Completed' });
    const hosts = readFileSync(join(pod.vars.POD_DIR as string, 'etc-hosts'), 'utf8');
    expect(hosts).toContain(`${pod.ip}\t${pod.f.sandbox.hostname}\n`);
    const out = await waitFor('the log lines', () => {
      const l = parseCriLog(readFileSync(st.log_path, 'utf8')).map((x) => x.text);
      return l.length >= hosts.trim().split('\n').length ? l : undefined;
    });
    expect(out).toEqual(hosts.trim().split('\n'));
    const tml = st.mounts.find((m) => m.container_path === '/dev/termination-log');
    expect(tml?.host_path).toMatch(new RegExp(`^${pod.vars.POD_DIR as string}/containers/report/[0-9a-f]{8}$`));
    expect(readFileSync(tml!.host_path, 'utf8')).toBe('report written: 42 rows\n');
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('volumes: emptyDir and hostPath are shared with the node, the projected token reads through ..data and is read-only', async () => {
    const pod = await runPod('volumes');
    const id = first(pod, 'writer');
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    expect((await exec(id, ['cat', `${sa}/token`])).out).toBe(SA_TOKEN);
    expect((await exec(id, ['cat', `${sa}/namespace`])).out).toBe('default');
    expect((await exec(id, ['/bin/busybox', 'readlink', `${sa}/ca.crt`])).out.trim()).toBe('..data/ca.crt');
    expect((await exec(id, ['ls', '-a', sa])).out.split(/\s+/)).toContain('..data');
    const ro = await exec(id, ['touch', `${sa}/planted`]);
    expect(ro.code).not.toBe(0);
    expect(ro.err).toMatch(/read-only/i);

    expect((await exec(id, ['/bin/sh', '-c', 'echo from-container > /cache/c.txt'])).code).toBe(0);
    expect(readFileSync(join(pod.vars.POD_DIR as string, 'volumes/kubernetes.io~empty-dir/cache/c.txt'), 'utf8')).toBe('from-container\n');
    const hostDir = pod.vars.HOST_DIR as string;
    expect((await exec(id, ['/bin/sh', '-c', 'echo from-container > /node-data/c.txt'])).code).toBe(0);
    expect(readFileSync(join(hostDir, 'c.txt'), 'utf8')).toBe('from-container\n');
    writeFileSync(join(hostDir, 'n.txt'), 'from-node\n');
    expect((await exec(id, ['cat', '/node-data-ro/n.txt'])).out).toBe('from-node\n');
    const roHost = await exec(id, ['touch', '/node-data-ro/planted']);
    expect(roHost.code).not.toBe(0);
    expect(existsSync(join(hostDir, 'planted'))).toBe(false);
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('burstable-resources: cgroup parent /kubepods/burstable/pod<uid>, cpu/memory limits, oom_score_adj, hugepage limits, seccomp, sysctls, groups, masked paths', async () => {
    const oom = burstableOomScoreAdj(64 * 1024 * 1024);
    const pod = await runPod('burstable-resources', { BURSTABLE_OOM_SCORE_ADJ: oom });
    const id = first(pod, 'api');
    const podCgroup = `/kubepods/burstable/pod${pod.vars.POD_UID as string}`;
    expect(await answers(`http://${pod.ip}:8080/`)).toBe('hello from the kubelet replay\n');

    const cpu = await cgroupOf(id, 'cpu');
    const mem = await cgroupOf(id, 'memory');
    expect(cpu.startsWith(`${podCgroup}/`)).toBe(true);
    expect(mem.startsWith(`${podCgroup}/`)).toBe(true);
    expect(cgroupFile('cpu', cpu, 'cpu.shares')).toBe('256');
    expect(cgroupFile('cpu', cpu, 'cpu.cfs_quota_us')).toBe('50000');
    expect(cgroupFile('cpu', cpu, 'cpu.cfs_period_us')).toBe('100000');
    expect(cgroupFile('memory', mem, 'memory.limit_in_bytes')).toBe('134217728');
    if (existsSync(join('/sys/fs/cgroup/memory', mem, 'memory.memsw.limit_in_bytes'))) expect(cgroupFile('memory', mem, 'memory.memsw.limit_in_bytes')).toBe('134217728');
    // the sandbox's linux.resources on the pod cgroup
    expect(cgroupFile('memory', podCgroup, 'memory.limit_in_bytes')).toBe('134217728');
    expect(Number((await procOf(id, 'oom_score_adj')).trim())).toBe(Math.max(oom, daemonOomScoreAdj()));

    const status = await procOf(id, 'status');
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    const ids = await exec(id, ['id']);
    expect(ids.out).toMatch(/^uid=1000\b.* gid=3000\b/);
    expect((await exec(id, ['id', '-G'])).out.trim().split(' ').map(Number).sort()).toEqual([2000, 3000, 4000]);
    expect((await exec(id, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).out.trim()).toBe('80');
    expect((await exec(id, ['cat', '/proc/sys/kernel/shm_rmid_forced'])).out.trim()).toBe('1');
    // runc masks and write-protects only the paths this kernel has
    const sent = pod.containers[0]!.config.linux!.security_context!;
    const mounts = (await exec(id, ['cat', '/proc/self/mountinfo'])).out.split('\n').map((l) => l.split(' '));
    const at = (p: string) => mounts.find((m) => m[4] === p);
    const masked = sent.masked_paths!.filter((p) => existsSync(p));
    const readonly = sent.readonly_paths!.filter((p) => existsSync(p));
    expect(masked.length).toBeGreaterThan(0);
    expect(readonly.length).toBeGreaterThan(0);
    for (const p of masked) expect(at(p), `${p} masked`).toBeDefined();
    for (const p of readonly) expect(at(p)?.[5]?.split(',')[0], `${p} read-only`).toBe('ro');
    expect((await exec(id, ['cat', '/proc/timer_list'])).out).toBe('');

    const st = await containerStatus(id);
    const r = st.resources?.linux;
    expect([r?.cpu_shares, r?.cpu_quota, r?.cpu_period, r?.memory_limit_in_bytes].map(Number)).toEqual([256, 50000, 100000, 134217728]);
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('restart: after the first instance exits, CreateContainer attempt 1 runs in the same pod with <name>/1.log; the old one is removed later', async () => {
    const pod = await runPod('restart');
    const first0 = pod.containers[0]!;
    const st0 = await exited(first0.id);
    expect({ exit: st0.exit_code, reason: st0.reason }).toEqual({ exit: 3, reason: 'Error' });
    const tml0 = st0.mounts.find((m) => m.container_path === '/dev/termination-log')!.host_path;
    expect(readFileSync(tml0, 'utf8')).toBe('crashed: bad input\n');
    expect(st0.log_path).toBe(join(pod.f.sandbox.log_directory!, 'worker/0.log'));
    expect(parseCriLog(readFileSync(st0.log_path, 'utf8')).map((l) => l.text)).toEqual(['worker start']);

    const { id: id1, config: c1 } = await startContainer(pod, pod.f.containers[0]!, 1);
    expect(c1.metadata).toEqual({ name: 'worker', attempt: 1 });
    expect(c1.annotations?.['io.kubernetes.container.restartCount']).toBe('1');
    const st1 = await waitFor('attempt 1 to run', async () => {
      const s = await containerStatus(id1);
      return s.state === 'CONTAINER_RUNNING' ? s : undefined;
    });
    expect(st1.log_path).toBe(join(pod.f.sandbox.log_directory!, 'worker/1.log'));
    expect(st1.mounts.find((m) => m.container_path === '/dev/termination-log')!.host_path).not.toBe(tml0);
    await waitFor('attempt 1 to log', () => existsSync(st1.log_path) && parseCriLog(readFileSync(st1.log_path, 'utf8')).some((l) => l.text === 'worker start'));
    await expectKubeletView(pod);

    // garbage collection of the dead instance, while the new one runs
    await removeContainer(first0.id);
    pod.containers.shift();
    await expect(containerStatus(first0.id)).rejects.toMatchObject({ code: 5 });
    expect(existsSync(st0.log_path)).toBe(false);
    expect((await containerStatus(id1)).state).toBe('CONTAINER_RUNNING');
    expect(existsSync(st1.log_path)).toBe(true);
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('host-network: a hostNetwork/hostPID DaemonSet pod (no hostname, the node\'s DNS, hostPort = containerPort) listens on the node itself', async () => {
    const port = await freePort();
    const dns = nodeDns();
    const pod = await runPod('host-network', { HOST_PORT: port, HOST_DNS_SERVERS: dns.servers, HOST_DNS_SEARCHES: dns.searches, HOST_DNS_OPTIONS: dns.options });
    const id = first(pod, 'agent');
    expect(await answers(`http://127.0.0.1:${port}/`)).toBe('hello from the kubelet replay\n');
    expect(await answers(`http://${nodeIp()}:${port}/`)).toBe('hello from the kubelet replay\n');
    expect((await exec(id, ['hostname'])).out.trim()).toBe(hostname());
    expect((await exec(id, ['cat', '/etc/hosts'])).out).toBe(readFileSync(join(pod.vars.POD_DIR as string, 'etc-hosts'), 'utf8'));
    // hostPID: the node's processes are visible
    expect((await exec(id, ['cat', '/proc/1/comm'])).out).toBe(readFileSync('/proc/1/comm', 'utf8'));
    await expectKubeletView(pod);
    await tearDown(pod);
    await expect(httpGet(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  }, 120_000);

  it('guaranteed: cgroup parent /kubepods/pod<uid>, requests = limits, oom_score_adj -997 (not below the daemon\'s own)', async () => {
    const pod = await runPod('guaranteed');
    const id = first(pod, 'db');
    expect(await answers(`http://${pod.ip}:8080/`)).toBe('hello from the kubelet replay\n');
    const cpu = await cgroupOf(id, 'cpu');
    expect(cpu.startsWith(`/kubepods/pod${pod.vars.POD_UID as string}/`)).toBe(true);
    expect(cgroupFile('cpu', cpu, 'cpu.shares')).toBe('102');
    expect(cgroupFile('cpu', cpu, 'cpu.cfs_quota_us')).toBe('10000');
    // nexcage never goes below its own oom_score_adj (without CAP_SYS_RESOURCE runc could not):
    // -997 under the packaged unit (OOMScoreAdjust=-999), the daemon's own where that is higher
    expect(Number((await procOf(id, 'oom_score_adj')).trim())).toBe(Math.max(-997, daemonOomScoreAdj()));
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);

  it('lifecycle-hooks: postStart/preStop exec with ExecSync timeout 0 run to the end; shared PID namespace; read-only root filesystem', async () => {
    const pod = await runPod('lifecycle-hooks');
    const id = first(pod, 'web');
    const hooksDir = join(pod.vars.POD_DIR as string, 'volumes/kubernetes.io~empty-dir/hooks');
    // timeout 0 is "no timeout": the 2 s hook is not cut short
    expect(pod.hookRuns).toEqual([{ hook: 'postStart', container: 'web', code: 0, ms: expect.any(Number) }]);
    expect(pod.hookRuns[0]!.ms).toBeGreaterThanOrEqual(2000);
    expect(readFileSync(join(hooksDir, 'post-start'), 'utf8')).toBe('post-start ran\n');
    expect(await answers(`http://${pod.ip}:8080/`)).toBe('hello from the kubelet replay\n');
    // pid POD: the sandbox's infra process is PID 1 for the containers
    expect((await exec(id, ['cat', '/proc/1/cmdline'])).out.split('\0')[0]).toBe('/pause');
    const rootWrite = await exec(id, ['touch', '/planted']);
    expect(rootWrite.code).not.toBe(0);
    expect(rootWrite.err).toMatch(/read-only/i);
    expect((await exec(id, ['touch', '/hooks/writable'])).code).toBe(0);
    await expectKubeletView(pod);

    await killPod(pod);
    expect(pod.hookRuns.find((h) => h.hook === 'preStop')).toMatchObject({ code: 0 });
    expect(readFileSync(join(hooksDir, 'pre-stop'), 'utf8')).toBe('pre-stop ran\n');
    const st = await containerStatus(id);
    expect({ state: st.state, exit: st.exit_code }).toEqual({ state: 'CONTAINER_EXITED', exit: 0 });
    await tearDown(pod);
  }, 120_000);

  it('ephemeral-debug: a debug container with stdin/tty in its target\'s PID namespace (pid TARGET) sees the target\'s processes', async () => {
    const pod = await runPod('ephemeral-debug');
    const web = first(pod, 'web');
    await answers(`http://${pod.ip}:8080/`);
    const { id: dbg, config } = await startContainer(pod, pod.f.ephemeral_containers[0]!, 0, { TARGET_ID: web });
    expect(config.linux?.security_context?.namespace_options).toMatchObject({ pid: 'TARGET', target_id: web });
    await waitFor('the debug container to run', async () => (await containerStatus(dbg)).state === 'CONTAINER_RUNNING');
    const ps = (await exec(dbg, ['ps', '-o', 'pid,args'])).out;
    expect(ps).toMatch(/httpd -f -p 8080/);
    expect((await exec(dbg, ['cat', '/proc/1/cmdline'])).out.split('\0').slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect((await exec(web, ['ps', '-o', 'args'])).out).toMatch(/^sh\s*$/m);
    await expectKubeletView(pod);
    const started = Date.now();
    await tearDown(pod);
    // the target's PID 1 exits on SIGTERM and takes the namespace (the debug shell) with it
    expect(Date.now() - started).toBeLessThan(pod.f.stop.timeout * 1000);
  }, 120_000);

  it('sandbox-recreate: after the infra process dies, a new sandbox attempt 1 for the same pod runs the container (attempt 1) beside the old one', async () => {
    const pod = await runPod('sandbox-recreate', { SANDBOX_ATTEMPT: 0 });
    const web0 = first(pod, 'web');
    await answers(`http://${pod.ip}:8080/`);
    const info = JSON.parse((await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true })).info.info ?? '{}') as { pid: number };
    process.kill(info.pid, 'SIGKILL');
    // the PLEG relist: PodSandboxStatus shows the sandbox not ready
    await waitFor('the sandbox to be not ready', async () => (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: pod.id })).status?.state === 'SANDBOX_NOTREADY');

    // computePodActions: KillPod + CreateSandbox with attempt 1; killPodWithSyncResult first
    await killPod(pod);
    expect((await containerStatus(web0)).state).toBe('CONTAINER_EXITED');
    pod.oldSandboxes.push(pod.id);
    pod.f = loadFixture('sandbox-recreate', { ...pod.vars, SANDBOX_ATTEMPT: 1 });
    await createSandbox(pod);
    expect(pod.id).not.toBe(pod.oldSandboxes[0]);
    const { id: web1 } = await startContainer(pod, pod.f.containers[0]!, 1);
    expect(await answers(`http://${pod.ip}:8080/`)).toBe('hello from the kubelet replay\n');
    expect((await containerStatus(web1)).log_path).toBe(join(pod.f.sandbox.log_directory!, 'web/1.log'));
    const listed = await call(d.client.runtime, 'ListPodSandbox', { filter: { label_selector: { 'io.kubernetes.pod.uid': pod.vars.POD_UID as string } } });
    expect(listed.items.map((x) => [x.metadata?.attempt, x.state]).sort()).toEqual([[0, 'SANDBOX_NOTREADY'], [1, 'SANDBOX_READY']]);
    await expectKubeletView(pod);

    // garbage collection of the old sandbox and its container, the new one untouched
    await removeContainer(web0);
    pod.containers.shift();
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: pod.oldSandboxes.shift()! }, 60_000);
    expect(await answers(`http://${pod.ip}:8080/`)).toBe('hello from the kubelet replay\n');
    await expectKubeletView(pod);
    await tearDown(pod);
  }, 120_000);
});
