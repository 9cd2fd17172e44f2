// The engine parts pod sandboxes and containers share, built once: the OCI runtime of each
// handler, the conmon monitor, the exit watcher, and the host facts
// (probed once, with the default runtime's `features`), user namespace support (probed once; a
// handler offers it only when the host can too) and cgroup layout both managers are given.
import { release } from 'node:os';
import { join } from 'node:path';
import type { Config } from './config-schema.js';
import { FailedPreconditionError } from '../lib/errors.js';
import { findExecutable } from '../lib/fsutil.js';
import type { Logger } from '../lib/log.js';
import type { HostFacts } from '../runtime/container/container-config.js';
import type { CgroupDriver } from '../runtime/engine/cgroup-driver.js';
import { ConmonMonitor } from '../runtime/engine/conmon-monitor.js';
import { ExitWatcher } from '../runtime/engine/exit-watcher.js';
import { NativeIdmap } from '../runtime/engine/idmap-mounts.js';
import type { OciRuntime } from '../runtime/engine/oci-runtime.js';
import type { RuntimeHandlers } from '../runtime/engine/runtime-handlers.js';
import { RuncRuntime } from '../runtime/engine/runc-runtime.js';
import { probeUsernsSupport } from '../runtime/engine/userns-support.js';
import { HUGETLB_MISSING, probeHostFacts } from '../runtime/oci-spec/host-facts.js';
import { detectCgroupLayout, type CgroupLayout } from '../runtime/stats/cgroup-paths.js';

export interface Engine {
  handlers: RuntimeHandlers;
  cgroupDriver: CgroupDriver;
  runtimeFor(handler: string): OciRuntime;
  monitor: ConmonMonitor;
  exits: ExitWatcher;
  host: HostFacts;
  cgroupLayout: CgroupLayout;
  close(): void;
}

export async function createEngine(config: Config, handlers: RuntimeHandlers, cgroupDriver: CgroupDriver, log: Logger): Promise<Engine> {
  const elog = log.child({ component: 'sandboxes' });
  const conmon = await findExecutable('conmon', ['/usr/bin', '/usr/libexec/podman', '/usr/local/bin', '/usr/sbin']);
  if (!conmon) throw new FailedPreconditionError('conmon not found (install Debian package conmon)');
  const runtimes = new Map<string, OciRuntime>();
  const runtimeFor = (name: string): OciRuntime => {
    const h = handlers.get(name);
    const cached = runtimes.get(h.name);
    if (cached) return cached;
    if (!h.binary) throw new FailedPreconditionError(`runtime handler "${h.name}": binary "${h.path}" not found or not executable`);
    const rt = new RuncRuntime({ handler: h.name, binary: h.binary, root: h.root, systemdCgroup: h.systemdCgroup || cgroupDriver === 'systemd' });
    runtimes.set(h.name, rt);
    return rt;
  };
  const mountOptions = handlers.get('').binary ? await featuresMountOptions(runtimeFor('')) : undefined;
  const host = await probeHostFacts({ cgroupDriver, ...(mountOptions ? { runtimeMountOptions: mountOptions } : {}) });
  if (host.hugetlb === false) log.child({ component: 'containers' }).warn(HUGETLB_MISSING);
  const idmap = new NativeIdmap();
  const usernsMissing = await probeUsernsSupport({ kernelRelease: host.kernelRelease ?? release(), rootDir: config.rootDir, stateDir: config.stateDir, idmapCheck: (p) => idmap.check(p) });
  handlers.restrictUserNamespaces(usernsMissing);
  for (const h of handlers.list()) {
    if (h.features.userNamespaces) elog.info({ handler: h.name }, 'user-namespaced pods (hostUsers: false) supported');
    else elog.info({ handler: h.name, reason: h.usernsUnsupported }, 'user-namespaced pods (hostUsers: false) not supported');
  }
  // Pod cgroup limits need it: no readable cgroup hierarchy is a start-up error.
  const cgroupLayout = detectCgroupLayout();
  const exits = new ExitWatcher(join(config.stateDir, 'exits'), elog);
  await exits.start();
  const monitor = new ConmonMonitor({ binary: conmon, socketDir: join(config.stateDir, 'attach'), log: elog });
  return { handlers, cgroupDriver, runtimeFor, monitor, exits, host, cgroupLayout, close: () => exits.stop() };
}

async function featuresMountOptions(rt: OciRuntime): Promise<string[] | undefined> {
  try {
    const f = (await rt.features()) as { mountOptions?: string[] };
    return f.mountOptions;
  } catch {
    return undefined;
  }
}
