// Hostile gRPC input: every CRI RPC gets random and boundary values (empty ids, 10 MB strings,
// invalid UTF-8, negative and huge timeouts, absurd resources, relative and ".." mount paths,
// unknown enum numbers) from fast-check with a fixed seed (NEXCAGE_RELIABILITY_SEED replays a run).
// The daemon must never crash, never hang a call past its deadline, answer a rejected call with a
// clear status (INVALID_ARGUMENT, NOT_FOUND, ... and a message; never INTERNAL/UNKNOWN) and leave
// the pod/container/image lists exactly as they were. Short: ~450 cases; full: ~5000.
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { ctrConfig, pull, pushContainerImages, runCtr, runPod, type ContainerImages } from '../support/containers.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, processAlive as alive, useTestDir } from '../e2e/harness.js';
import { pick, report, SEED } from './scale.js';

const RUNS = Number(process.env.NEXCAGE_RELIABILITY_FUZZ_RUNS ?? pick(300, 5000));
const DEADLINE_MS = 20_000;
/** Codes a rejected call may answer with: each a clear statement about the request or the object. */
const CLEAR = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.UNAVAILABLE, // pulls from the closed port 127.0.0.1:1 only (checked below)
]);

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let podId = '';
let ctrId = '';
let pod: PodSandboxConfig;
const BIG = 'x'.repeat(10 * 1024 * 1024);

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  images = await pushContainerImages(registry);
  d = t.track(new Daemon(t.dir(), 'fuzz', { config: { logLevel: 'info' } }));
  await d.start();
  await pull(d, images.busybox);
  pod = {
    metadata: { name: 'fuzz', uid: 'fuzz-uid', namespace: 'fuzz', attempt: 0 },
    hostname: 'fuzz',
    log_directory: t.dir().join('logs'),
    labels: { fuzz: 'fixture' },
    linux: { cgroup_parent: t.dir().cgroupParent },
  };
  mkdirSync(t.dir().join('logs'), { recursive: true });
  podId = await runPod(d, pod);
  ctrId = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '100000']));
}, 300_000);

afterAll(async () => {
  if (podId) {
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: podId }, 60_000).catch((e: unknown) => report(`fuzz cleanup: StopPodSandbox: ${String(e)}`));
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: podId }, 60_000).catch((e: unknown) => report(`fuzz cleanup: RemovePodSandbox: ${String(e)}`));
  }
  await d?.stop();
  await registry?.stop();
}, 300_000);

// ---- arbitraries ----

const nasty = fc.constantFrom('', ' ', '.', '..', '../..', '/', '../../../../etc/shadow', 'a/../../b', '\u0000', 'a\u0000b', '\uD800', '\uFFFF', 'ünïcødé', '*', '%s%n%x', '-rf', '--help', '\n', 'a'.repeat(300), '${HOME}', '$(reboot)');
const str = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 30 }) }, { weight: 3, arbitrary: nasty }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) });
/** Hostile text that is not an id prefix of a fixture (ids resolve by prefix: "4" may name one). */
const notFixture = (): fc.Arbitrary<string> => str.filter((v) => v === '' || !(podId.startsWith(v) || ctrId.startsWith(v)));
/** An id: one of the fixtures' (so the call reaches real objects), a prefix, or hostile text. */
const id = (): fc.Arbitrary<string> => fc.oneof(str, fc.constant(podId), fc.constant(ctrId), fc.constant(podId.slice(0, 5)), fc.constant(ctrId.slice(0, 12)));
const int32 = fc.oneof(fc.constantFrom(-1, 0, 1, 2 ** 31 - 1, -(2 ** 31)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const uint32 = fc.oneof(fc.constantFrom(0, 1, 2 ** 32 - 1), fc.nat());
const int64 = fc.oneof(fc.constantFrom('-1', '0', '1', '9223372036854775807', '-9223372036854775808', '4096'), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String));
const uint64 = fc.oneof(fc.constantFrom('0', '1', '18446744073709551615'), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String));
/** A valid enum name or an unknown number. */
const enumOf = (...names: string[]): fc.Arbitrary<string | number> => fc.oneof(fc.constantFrom(...names), fc.integer({ min: -5, max: 1000 }));
const dict = fc.dictionary(str, str, { maxKeys: 3 });
const strs = fc.array(str, { maxLength: 3 });
/** Paths on the host: hostile shapes, or inside this test's dir (never create litter on the host). */
const hostPath = (): fc.Arbitrary<string> =>
  fc.oneof(nasty, fc.constantFrom('relative/dir', '../etc', 'etc/../../x', `${t.dir().path}/mnt/../../..`, `${t.dir().path}/mnt`, `${t.dir().path}/mnt/../mnt2`, '/proc/kcore', '/dev/mem'));

const metadata = fc.record({ name: str, uid: str, namespace: str, attempt: uint32 }, { requiredKeys: [] });
const resources = fc.record(
  {
    cpu_period: int64,
    cpu_quota: int64,
    cpu_shares: int64,
    memory_limit_in_bytes: int64,
    oom_score_adj: int64,
    cpuset_cpus: str,
    cpuset_mems: str,
    hugepage_limits: fc.array(fc.record({ page_size: str, limit: uint64 }), { maxLength: 2 }),
    unified: dict,
    memory_swap_limit_in_bytes: int64,
  },
  { requiredKeys: [] },
);
const podConfigArb = (): fc.Arbitrary<PodSandboxConfig> =>
  fc.record(
    {
      metadata,
      hostname: str,
      log_directory: fc.oneof(hostPath(), fc.constant(t.dir().join('logs'))),
      dns_config: fc.record({ servers: strs, searches: strs, options: strs }, { requiredKeys: [] }),
      port_mappings: fc.array(fc.record({ protocol: enumOf('TCP', 'UDP', 'SCTP'), container_port: int32, host_port: int32, host_ip: str }, { requiredKeys: [] }), { maxLength: 2 }),
      labels: dict,
      annotations: dict,
      linux: fc.record(
        {
          cgroup_parent: fc.constantFrom(t.dir().cgroupParent, '../..', 'relative', '/../../x/..'),
          sysctls: dict,
          overhead: resources,
          resources,
          security_context: fc.record(
            {
              namespace_options: fc.record({ network: enumOf('POD', 'CONTAINER', 'NODE', 'TARGET'), pid: enumOf('POD', 'CONTAINER', 'NODE', 'TARGET'), ipc: enumOf('POD', 'NODE') }, { requiredKeys: [] }),
              privileged: fc.boolean(),
              run_as_user: fc.record({ value: int64 }),
              readonly_rootfs: fc.boolean(),
              supplemental_groups: fc.array(int64, { maxLength: 2 }),
              seccomp: fc.record({ profile_type: enumOf('RuntimeDefault', 'Unconfined', 'Localhost'), localhost_ref: hostPath() }, { requiredKeys: [] }),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<PodSandboxConfig>;

const ctrConfigArb = (): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      metadata: fc.record({ name: str, attempt: uint32 }, { requiredKeys: [] }),
      image: fc.record({ image: fc.oneof(str, fc.constant(images.busybox)) }),
      command: strs,
      args: strs,
      working_dir: str,
      envs: fc.array(fc.record({ key: str, value: str }), { maxLength: 3 }),
      mounts: fc.array(
        fc.record({ container_path: hostPath(), host_path: hostPath(), readonly: fc.boolean(), selinux_relabel: fc.boolean(), propagation: enumOf('PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL') }, { requiredKeys: [] }),
        { maxLength: 2 },
      ),
      devices: fc.array(fc.record({ container_path: hostPath(), host_path: hostPath(), permissions: str }), { maxLength: 2 }),
      labels: dict,
      annotations: dict,
      log_path: fc.oneof(hostPath(), fc.constant('ok.log')),
      stdin: fc.boolean(),
      tty: fc.boolean(),
      linux: fc.record(
        {
          resources,
          security_context: fc.record(
            {
              capabilities: fc.record({ add_capabilities: fc.array(fc.oneof(str, fc.constantFrom('CAP_SYS_ADMIN', 'ALL', 'NET_RAW')), { maxLength: 2 }), drop_capabilities: strs }, { requiredKeys: [] }),
              privileged: fc.boolean(),
              run_as_user: fc.record({ value: int64 }),
              run_as_group: fc.record({ value: int64 }),
              run_as_username: str,
              readonly_rootfs: fc.boolean(),
              no_new_privs: fc.boolean(),
              masked_paths: strs,
              readonly_paths: strs,
              seccomp: fc.record({ profile_type: enumOf('RuntimeDefault', 'Unconfined', 'Localhost'), localhost_ref: hostPath() }, { requiredKeys: [] }),
              apparmor: fc.record({ profile_type: enumOf('RuntimeDefault', 'Unconfined', 'Localhost'), localhost_ref: str }, { requiredKeys: [] }),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  );

const filterState = (...names: string[]): fc.Arbitrary<Record<string, unknown>> => fc.record({ state: enumOf(...names) });
/** A pull target that never leaves the machine: hostile text (mostly invalid references) or the closed port 1. */
const imageRef = (): fc.Arbitrary<string> => fc.oneof(nasty, str.map((s) => `127.0.0.1:1/${s}`), fc.constant(`127.0.0.1:1/${'a'.repeat(300)}`), fc.constant('UPPER/Case:tag'));

type Svc = 'runtime' | 'image';
interface Rpc {
  svc: Svc;
  method: string;
  arb: () => fc.Arbitrary<Record<string, unknown>>;
  /** The call creates something when accepted: how to undo it so lists stay comparable. */
  undo?: (res: Record<string, unknown>) => Promise<void>;
  /** Server-streaming: read to the end (or the deadline). */
  stream?: boolean;
}

const rpcs = (): Rpc[] => [
  { svc: 'runtime', method: 'Version', arb: () => fc.record({ version: str }) },
  {
    svc: 'runtime',
    method: 'RunPodSandbox',
    arb: () => fc.record({ config: podConfigArb(), runtime_handler: fc.oneof(str, fc.constant('')) }, { requiredKeys: [] }),
    undo: async (res) => {
      const id = res.pod_sandbox_id as string;
      await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id }, 60_000);
      await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 60_000);
    },
  },
  // Destructive calls get hostile ids only (never the fixtures'), so lists stay comparable.
  { svc: 'runtime', method: 'StopPodSandbox', arb: () => fc.record({ pod_sandbox_id: notFixture() }) },
  { svc: 'runtime', method: 'RemovePodSandbox', arb: () => fc.record({ pod_sandbox_id: notFixture() }) },
  { svc: 'runtime', method: 'PodSandboxStatus', arb: () => fc.record({ pod_sandbox_id: id(), verbose: fc.boolean() }) },
  { svc: 'runtime', method: 'ListPodSandbox', arb: () => fc.record({ filter: fc.record({ id: str, state: filterState('SANDBOX_READY', 'SANDBOX_NOTREADY'), label_selector: dict }, { requiredKeys: [] }) }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'StreamPodSandboxes', stream: true, arb: () => fc.record({ filter: fc.record({ id: str, label_selector: dict }, { requiredKeys: [] }) }, { requiredKeys: [] }) },
  {
    svc: 'runtime',
    method: 'CreateContainer',
    arb: () => fc.record({ pod_sandbox_id: id(), config: ctrConfigArb(), sandbox_config: fc.oneof(fc.constant(pod), podConfigArb()) }, { requiredKeys: [] }),
    undo: async (res) => void (await call(d.client.runtime, 'RemoveContainer', { container_id: res.container_id as string }, 60_000)),
  },
  { svc: 'runtime', method: 'StartContainer', arb: () => fc.record({ container_id: notFixture() }) },
  { svc: 'runtime', method: 'StopContainer', arb: () => fc.record({ container_id: notFixture(), timeout: int64 }) },
  { svc: 'runtime', method: 'RemoveContainer', arb: () => fc.record({ container_id: notFixture() }) },
  { svc: 'runtime', method: 'ListContainers', arb: () => fc.record({ filter: fc.record({ id: str, pod_sandbox_id: id(), state: filterState('CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'), label_selector: dict }, { requiredKeys: [] }) }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'StreamContainers', stream: true, arb: () => fc.record({ filter: fc.record({ id: str, pod_sandbox_id: id(), label_selector: dict }, { requiredKeys: [] }) }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'ContainerStatus', arb: () => fc.record({ container_id: id(), verbose: fc.boolean() }) },
  // Resources only for hostile ids: absurd limits accepted on the fixture would change what later calls see.
  { svc: 'runtime', method: 'UpdateContainerResources', arb: () => fc.record({ container_id: notFixture(), linux: resources, annotations: dict }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'ReopenContainerLog', arb: () => fc.record({ container_id: id() }) },
  { svc: 'runtime', method: 'ExecSync', arb: () => fc.record({ container_id: id(), cmd: fc.oneof(strs, fc.constant(['true'])), timeout: int64 }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'Exec', arb: () => fc.record({ container_id: id(), cmd: strs, tty: fc.boolean(), stdin: fc.boolean(), stdout: fc.boolean(), stderr: fc.boolean() }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'Attach', arb: () => fc.record({ container_id: id(), tty: fc.boolean(), stdin: fc.boolean(), stdout: fc.boolean(), stderr: fc.boolean() }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'PortForward', arb: () => fc.record({ pod_sandbox_id: id(), port: fc.array(int32, { maxLength: 3 }) }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'ContainerStats', arb: () => fc.record({ container_id: id() }) },
  { svc: 'runtime', method: 'ListContainerStats', arb: () => fc.record({ filter: fc.record({ id: str, pod_sandbox_id: id(), label_selector: dict }, { requiredKeys: [] }) }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'PodSandboxStats', arb: () => fc.record({ pod_sandbox_id: id() }) },
  { svc: 'runtime', method: 'ListPodSandboxStats', arb: () => fc.record({ filter: fc.record({ id: str, label_selector: dict }, { requiredKeys: [] }) }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'UpdateRuntimeConfig', arb: () => fc.record({ runtime_config: fc.record({ network_config: fc.record({ pod_cidr: fc.oneof(str, fc.constantFrom('10.0.0.0/99', '300.1.1.1/8', '::/0', '10.244.0.0/16')) }) }) }, { requiredKeys: [] }) },
  { svc: 'runtime', method: 'Status', arb: () => fc.record({ verbose: fc.boolean() }) },
  { svc: 'runtime', method: 'CheckpointContainer', arb: () => fc.record({ container_id: id(), location: hostPath(), timeout: int64 }) },
  { svc: 'runtime', method: 'ListMetricDescriptors', arb: () => fc.constant({}) },
  { svc: 'runtime', method: 'ListPodSandboxMetrics', arb: () => fc.constant({}) },
  { svc: 'runtime', method: 'RuntimeConfig', arb: () => fc.constant({}) },
  { svc: 'runtime', method: 'UpdatePodSandboxResources', arb: () => fc.record({ pod_sandbox_id: notFixture(), overhead: resources, resources }, { requiredKeys: [] }) },
  { svc: 'image', method: 'ListImages', arb: () => fc.record({ filter: fc.record({ image: fc.record({ image: str }) }) }, { requiredKeys: [] }) },
  { svc: 'image', method: 'StreamImages', stream: true, arb: () => fc.record({ filter: fc.record({ image: fc.record({ image: str }) }) }, { requiredKeys: [] }) },
  { svc: 'image', method: 'ImageStatus', arb: () => fc.record({ image: fc.record({ image: fc.oneof(str, fc.constant(images.busybox)) }), verbose: fc.boolean() }, { requiredKeys: [] }) },
  {
    svc: 'image',
    method: 'PullImage',
    arb: () => fc.record({ image: fc.record({ image: imageRef(), annotations: dict }, { requiredKeys: ['image'] }), auth: fc.record({ username: str, password: str, auth: str, registry_token: str }, { requiredKeys: [] }), sandbox_config: fc.oneof(fc.constant(pod), podConfigArb()) }, { requiredKeys: [] }),
  },
  // Never the fixture image: removing it is a legitimate success.
  { svc: 'image', method: 'RemoveImage', arb: () => fc.record({ image: fc.record({ image: str.filter((v) => v === '' || !images.busybox.includes(v)) }) }, { requiredKeys: [] }) },
  { svc: 'image', method: 'ImageFsInfo', arb: () => fc.constant({}) },
];

const NOT_SENT = -1;
/** grpc-js could not encode the request (protobufjs refused a value): it never left the test. */
function clientSide(e: grpc.ServiceError): boolean {
  return e.code === grpc.status.INTERNAL && e.details.startsWith('Request message serialization failure');
}

interface Outcome {
  code: number;
  details: string;
  ms: number;
  res?: Record<string, unknown>;
}

function invoke(rpc: Rpc, req: unknown): Promise<Outcome> {
  const client = (rpc.svc === 'runtime' ? d.client.runtime : d.client.image) as unknown as Record<string, (...a: unknown[]) => unknown>;
  const fn = client[rpc.method]!;
  const started = Date.now();
  const deadline = Date.now() + DEADLINE_MS;
  return new Promise((resolve) => {
    const done = (code: number, details: string, res?: Record<string, unknown>): void => resolve({ code, details, ms: Date.now() - started, ...(res ? { res } : {}) });
    try {
      if (rpc.stream) {
        const s = fn.call(client, req, { deadline }) as grpc.ClientReadableStream<unknown>;
        s.on('data', () => undefined);
        s.on('error', (e: grpc.ServiceError) => done(clientSide(e) ? NOT_SENT : e.code, e.details));
        s.on('end', () => done(grpc.status.OK, ''));
      } else {
        fn.call(client, req, { deadline }, (e: grpc.ServiceError | null, res?: Record<string, unknown>) => (e ? done(clientSide(e) ? NOT_SENT : e.code, e.details) : done(grpc.status.OK, '', res)));
      }
    } catch (err) {
      // The client refused to encode it (e.g. an int64 it cannot represent): nothing was sent.
      done(NOT_SENT, String(err));
    }
  });
}

async function snapshot(): Promise<string> {
  const pods = (await call(d.client.runtime, 'ListPodSandbox', {})).items.map((p) => `${p.id}:${p.state}`).sort();
  const ctrs = (await call(d.client.runtime, 'ListContainers', {})).containers.map((c) => c.id).sort();
  const imgs = (await call(d.client.image, 'ListImages', {})).images.map((i) => `${i.id}:${i.repo_tags.join(',')}`).sort();
  return JSON.stringify({ pods, ctrs, imgs });
}

const counts = new Map<string, number>();
let cases = 0;
const slowest: { ms: number; what: string }[] = [];

async function check(rpc: Rpc, req: unknown): Promise<void> {
  const before = await snapshot();
  const out = await invoke(rpc, req);
  cases++;
  const key = `${rpc.method} ${out.code === NOT_SENT ? 'not-sent' : grpc.status[out.code]}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
  const what = `${rpc.method}(${JSON.stringify(req).slice(0, 300)}) -> ${out.code} ${out.details.slice(0, 300)}`;
  slowest.push({ ms: out.ms, what: what.slice(0, 200) });
  slowest.sort((a, b) => b.ms - a.ms).splice(5);
  expect(d.pid !== undefined && alive(d.pid), `daemon alive after ${what}`).toBe(true);
  if (out.code === NOT_SENT) return;
  expect(out.code, `no hang past the deadline: ${what}`).not.toBe(grpc.status.DEADLINE_EXCEEDED);
  if (out.code === grpc.status.OK) {
    if (out.res && rpc.undo) await rpc.undo(out.res);
    return;
  }
  expect(CLEAR.has(out.code), `a clear status code: ${what}`).toBe(true);
  if (out.code === grpc.status.UNAVAILABLE) expect(out.details, `UNAVAILABLE only for the closed registry port: ${what}`).toMatch(/127\.0\.0\.1:1\b/);
  expect(out.details.trim().length, `a message: ${what}`).toBeGreaterThan(0);
  expect(await snapshot(), `lists unchanged by the rejected ${what}`).toBe(before);
}

// ---- invalid UTF-8: hand-encoded protobuf, since a JS client only sends valid strings ----

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
/** A length-delimited field (string, bytes, message, map entry). */
function field(no: number, value: Buffer): Buffer {
  return Buffer.concat([varint((no << 3) | 2), varint(value.length), value]);
}
const BAD = Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]);

function rawCall(svc: string, method: string, body: Buffer): Promise<Outcome> {
  const client = new grpc.Client(`unix://${d.socket}`, grpc.credentials.createInsecure());
  const started = Date.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/runtime.v1.${svc}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + DEADLINE_MS },
      (e: grpc.ServiceError | null) => {
        client.close();
        resolve({ code: e ? e.code : grpc.status.OK, details: e?.details ?? '', ms: Date.now() - started });
      },
    );
  });
}

describe('hostile gRPC input', () => {
  it('answers boundary values for every RPC with a clear status and no state change', async () => {
    const list = rpcs();
    const boundary: unknown[] = [{}, { pod_sandbox_id: '', container_id: '', image: { image: '' } }, { pod_sandbox_id: BIG, container_id: BIG, image: { image: BIG } }, { pod_sandbox_id: '../../..', container_id: '../../..', image: { image: '../../..' } }];
    for (const rpc of list) {
      for (const req of boundary) await check(rpc, req);
    }
    // A 10 MB label and a 10 MB command: refused or carried, never a crash.
    await check(list.find((r) => r.method === 'RunPodSandbox')!, { config: { ...pod, metadata: { name: 'big', uid: 'big', namespace: 'fuzz', attempt: 0 }, labels: { big: BIG } } });
    await check(list.find((r) => r.method === 'ExecSync')!, { container_id: ctrId, cmd: ['echo', BIG], timeout: '5' });
    // Over the message size limit (16 MiB): RESOURCE_EXHAUSTED from gRPC, the daemon unharmed.
    await check(list.find((r) => r.method === 'ContainerStatus')!, { container_id: BIG + BIG });
    report(`fuzz boundary: slowest calls: ${slowest.map((x) => `${x.ms} ms ${x.what}`).join(' | ')}`);
  });

  it('survives invalid UTF-8 in ids, names and labels', async () => {
    const raw: [string, string, Buffer][] = [
      ['RuntimeService', 'PodSandboxStatus', field(1, BAD)],
      ['RuntimeService', 'ContainerStatus', field(1, BAD)],
      ['RuntimeService', 'StopPodSandbox', field(1, BAD)],
      ['RuntimeService', 'RemoveContainer', field(1, BAD)],
      ['RuntimeService', 'ListContainers', field(1, field(4, Buffer.concat([field(1, BAD), field(2, BAD)])))],
      // RunPodSandbox: metadata.name and a label key/value of invalid UTF-8.
      ['RuntimeService', 'RunPodSandbox', field(1, Buffer.concat([field(1, Buffer.concat([field(1, BAD), field(2, BAD), field(3, BAD)])), field(6, Buffer.concat([field(1, BAD), field(2, BAD)]))]))],
      ['ImageService', 'ImageStatus', field(1, field(1, BAD))],
      ['ImageService', 'PullImage', field(1, field(1, BAD))],
      ['ImageService', 'RemoveImage', field(1, field(1, BAD))],
      // Not protobuf at all.
      ['RuntimeService', 'CreateContainer', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])],
    ];
    for (const [svc, method, body] of raw) {
      const before = await snapshot();
      const out = await rawCall(svc, method, body);
      const what = `${method}(invalid UTF-8) -> ${out.code} ${out.details}`;
      expect(alive(d.pid!), `daemon alive after ${what}`).toBe(true);
      expect(out.code, what).not.toBe(grpc.status.DEADLINE_EXCEEDED);
      if (out.code !== grpc.status.OK) {
        // A body that is not protobuf fails in gRPC's own decoding (INTERNAL "Failed to parse").
        const clear = CLEAR.has(out.code) || (method === 'CreateContainer' && out.code === grpc.status.INTERNAL);
        expect(clear, what).toBe(true);
        expect(out.details.length, what).toBeGreaterThan(0);
        expect(await snapshot(), what).toBe(before);
      }
      counts.set(`${method} (invalid UTF-8) ${grpc.status[out.code]}`, 1);
      caseCount++;
    }
    // Accepted ones (invalid bytes decode to U+FFFD) made a pod: remove it like the kubelet would.
    for (const p of (await call(d.client.runtime, 'ListPodSandbox', {})).items) {
      if (p.id === podId) continue;
      await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: p.id }, 60_000);
      await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: p.id }, 60_000);
    }
  });

  it(`answers ${RUNS} random requests with a clear status, within the deadline, without changing state when refused`, async () => {
    const list = rpcs();
    const arb = fc.oneof(...list.map((rpc) => rpc.arb().map((req) => ({ rpc, req }))));
    await fc.assert(
      fc.asyncProperty(arb, async ({ rpc, req }) => {
        await check(rpc, req);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // Still serving normally afterwards.
    expect((await call(d.client.runtime, 'Version', {})).runtime_name).toBe('nexcage');
    expect((await call(d.client.runtime, 'ContainerStatus', { container_id: ctrId })).status?.state).toBe('CONTAINER_RUNNING');
    const byMethod = [...counts.entries()].sort().map(([k, v]) => `${k}=${v}`).join(' ');
    report(`fuzz: slowest calls: ${slowest.map((x) => `${x.ms} ms ${x.what}`).join(' | ')}`);
    report(`fuzz: ${cases + caseCount} cases (seed ${SEED}, ${RUNS} random): ${byMethod}`);
  });
});

let caseCount = 0;
