// A container manager on fakes for the container unit tests (container-checkpoint.test.ts,
// container-create.test.ts): one READY pod, the busybox image, a runtime that can checkpoint
// (CheckpointingRuntime) unless asked for a plain one, real files under a temp dir.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { goArch } from './container/container-checkpoint-archive.js';
import type { ContainerManagerOptions } from './container/container-deps.js';
import { ContainerManager } from './container/container-manager.js';
import type { CheckpointSupport } from './engine/criu.js';
import { testHost } from './oci-spec/test-host.js';
import type { Sandbox } from './sandbox/sandbox-config.js';
import { CheckpointingRuntime, FakeExits, FakeImages, FakeMonitor, FakeMounts, FakeRuntime, World, criuCoreImage, fakeHandlers } from './test-fakes.js';

/** How a test's pod differs from the default one (network and IPC of the pod, READY, writable rootfs). */
export interface PodShape {
  id?: string;
  state?: Sandbox['state'];
  cgroupParent?: string;
  namespaceOptions?: Sandbox['config']['namespaceOptions'];
  readonlyRootfs?: boolean;
  /** The hostname recorded for the running pod (a restored pod keeps the checkpointed one). */
  hostname?: string;
  shmPath?: string;
}

/** A pod record for the container tests, its hostname/hosts/resolv.conf files made under `root`. */
export function containerPod(root: string, shape: PodShape = {}): Sandbox {
  const cgroupParent = shape.cgroupParent ?? '/nexcage-unit';
  const namespaceOptions = shape.namespaceOptions ?? ({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const);
  const security = { privileged: false, supplementalGroups: [], readonlyRootfs: shape.readonlyRootfs ?? false };
  const metadata = { name: 'p', uid: 'u', namespace: 'n', attempt: 0 };
  for (const f of ['hostname', 'hosts', 'resolv.conf']) writeFileSync(join(root, f), '');
  return {
    id: shape.id ?? 'c'.repeat(64),
    config: { metadata, hostname: 'p', logDirectory: join(root, 'logs'), portMappings: [], labels: {}, annotations: {}, cgroupParent, sysctls: {}, namespaceOptions, security },
    metadata,
    runtimeHandler: 'runc',
    createdAtNs: '1',
    state: shape.state ?? 'READY',
    hostNetwork: false,
    netnsPath: join(root, 'netns', 'p'),
    bundle: join(root, 'state', 'sandboxes', 'p'),
    ...(shape.shmPath !== undefined ? { shmPath: shape.shmPath } : {}),
    cgroupsPath: `${cgroupParent}/p`,
    cgroupParent,
    namespaceOptions,
    hostname: shape.hostname ?? 'restored-host',
    hostnamePath: join(root, 'hostname'),
    hostsPath: join(root, 'hosts'),
    resolvConfPath: join(root, 'resolv.conf'),
    pid: 4242,
    monitorPid: 4243,
    ips: ['10.88.0.2'],
    labels: {},
    annotations: {},
    sysctls: {},
    security,
    networkDown: false,
  };
}

/** The managers' view of the pods when a test has exactly one (read through `current` each time). */
export function onePod(current: () => Sandbox): ContainerManagerOptions['sandboxes'] {
  return {
    get: (id: string) => {
      const sandbox = current();
      if (id !== sandbox.id) throw new NotFoundError(`pod sandbox "${id}" not found`);
      return sandbox;
    },
    find: (id: string) => {
      const sandbox = current();
      return id === sandbox.id ? sandbox : undefined;
    },
  };
}

export const CRIU_OK: CheckpointSupport = { available: true, criu: '/opt/nexcage/criu/sbin/criu', version: '4.1.1', reason: '' };

export interface ContainerWorldOptions {
  plainRuntime?: boolean;
  criu?: CheckpointSupport;
  noCheckpoint?: boolean;
  cgroupParent?: string;
  extra?: Partial<ContainerManagerOptions>;
}

/** A manager on fakes in a new temp dir (the caller removes `root` and closes the managers). */
export async function containerWorld(o: ContainerWorldOptions = {}) {
  const root = mkdtempSync(join(tmpdir(), 'nexcage-ctr-world-'));
  const w = new World(root);
  const runtime = o.plainRuntime ? new FakeRuntime(w) : new CheckpointingRuntime(w);
  if (runtime instanceof CheckpointingRuntime) await runtime.install(criuCoreImage(goArch()));
  const handlers = fakeHandlers(runtime);
  const images = new FakeImages(w);
  images.addImage('busybox', { Cmd: ['sh'] });
  const sandbox = containerPod(root, { cgroupParent: o.cgroupParent });
  const monitor = new FakeMonitor(w);
  const mounts = new FakeMounts(w);
  const exits = new FakeExits(w);
  const pulled: string[] = [];
  const options: ContainerManagerOptions = {
    rootDir: join(root, 'root'),
    stateDir: join(root, 'state'),
    handlers,
    runtimeFor: handlers.runtimeFor,
    monitor,
    exits,
    sandboxes: onePod(() => sandbox),
    images,
    host: testHost(),
    cgroupDriver: 'cgroupfs',
    cgroupLayout: undefined,
    events: { publish: () => undefined },
    log: silentLogger(),
    killWaitMs: 100,
    mounts,
    ...o.extra,
    ...(o.noCheckpoint
      ? {}
      : {
          checkpoint: {
            criu: { support: async () => o.criu ?? CRIU_OK },
            pull: async (ref: string) => {
              pulled.push(ref);
              w.step('checkpoint.pull', ref);
            },
          },
        }),
  };
  const managers: ContainerManager[] = [];
  const make = (): ContainerManager => {
    const m = new ContainerManager(options);
    managers.push(m);
    return m;
  };
  const m = make();
  const out = join(root, 'out');
  mkdirSync(out);
  return { root, w, runtime, images, sandbox, monitor, mounts, exits, options, m, make, out, pulled, managers };
}

