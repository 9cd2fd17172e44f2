// Reads the node facts the spec builders need (HostFacts), once at daemon start. The parsers
// are pure and take file contents; probeHostFacts does the reading (with a root prefix so tests
// can point it at fixture files).
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import type { HostFacts } from '../container/container-config.js';
import { allCapabilities } from './defaults.js';

/** The hard RLIMIT_NOFILE from /proc/<pid>/limits text ("Max open files  <soft>  <hard>  files"). */
export function parseNofileHard(limits: string): number | undefined {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const m = line?.match(/^Max open files\s+(\S+)\s+(\S+)/);
  if (!m) return undefined;
  return m[2] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
}

/** The capability names of a CapEff/CapBnd line of /proc/<pid>/status (hex bit mask). */
export function capabilitiesFromStatus(status: string, field = 'CapEff'): string[] | undefined {
  const m = status.match(new RegExp(`^${field}:\\s*([0-9a-fA-F]+)\\s*$`, 'm'));
  if (!m) return undefined;
  const mask = BigInt(`0x${m[1]}`);
  return allCapabilities().filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** Linux 5.12 brought mount_setattr (needed for `rro`); the runtime must also list the option. */
export function supportsRecursiveReadOnly(kernelRelease: string, runtimeMountOptions: readonly string[] | undefined): boolean {
  const m = kernelRelease.match(/^(\d+)\.(\d+)/);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const kernelOk = major > 5 || (major === 5 && minor >= 12);
  return kernelOk && (runtimeMountOptions ?? []).includes('rro');
}

/**
 * Whether runc can apply hugepage limits: on cgroup v2 "hugetlb" is in cgroup.controllers; on v1
 * a cgroup hierarchy with the hugetlb controller is mounted (/proc/cgroups lists it as enabled
 * even when no hierarchy has it, and runc then fails "cannot set hugetlb limit").
 */
export function hugetlbAvailable(cgroupV2: boolean, controllers: string | undefined, mountinfo: string | undefined): boolean {
  if (cgroupV2) return (controllers ?? '').split(/\s+/).includes('hugetlb');
  return (mountinfo ?? '').split('\n').some((line) => {
    const sep = line.indexOf(' - ');
    if (sep < 0) return false;
    const [fsType, , superOptions] = line.slice(sep + 3).split(' ');
    return fsType === 'cgroup' && (superOptions ?? '').split(',').includes('hugetlb');
  });
}

/** hugetlbAvailable for the node under `root` ("/" on a real node). */
export async function probeHugetlb(root = '/'): Promise<boolean> {
  const r = root.replace(/\/?$/, '/');
  const controllers = await readFile(`${r}sys/fs/cgroup/cgroup.controllers`, 'utf8').catch(() => undefined);
  if (controllers !== undefined) return hugetlbAvailable(true, controllers, undefined);
  return hugetlbAvailable(false, undefined, await readFile(`${r}proc/self/mountinfo`, 'utf8').catch(() => undefined));
}

/** What the daemon log and verbose Status say when hugepage limits are dropped. */
export const HUGETLB_MISSING = 'the node has no hugetlb cgroup controller (cgroup v1: no mounted hugetlb hierarchy; v2: not in cgroup.controllers): hugepage_limits of containers and pods are not applied';

export interface HostProbeOptions {
  cgroupDriver: HostFacts['cgroupDriver'];
  /** `mountOptions` of the OCI runtime's `features` output (runc 1.1+); undefined = unknown = no rro. */
  runtimeMountOptions?: readonly string[];
  /** AppArmor profile name used for RuntimeDefault when AppArmor is on. */
  apparmorDefaultProfile?: string;
  /** Filesystem root for the probe, "/" on a real node. */
  root?: string;
  kernelRelease?: string;
}

export async function probeHostFacts(opts: HostProbeOptions): Promise<HostFacts> {
  const root = (opts.root ?? '/').replace(/\/?$/, '/');
  const text = async (p: string): Promise<string | undefined> => readFile(root + p, 'utf8').catch(() => undefined);

  const oom = Number((await text('proc/self/oom_score_adj'))?.trim() ?? '0');
  const nofile = parseNofileHard((await text('proc/self/limits')) ?? '') ?? 1024 * 1024;
  const lastCap = Number((await text('proc/sys/kernel/cap_last_cap'))?.trim());
  const apparmorEnabled = (await text('sys/module/apparmor/parameters/enabled'))?.trim() === 'Y';
  // SELinux is on when selinuxfs is mounted and enforcing or permissive (the file exists either way)
  const selinuxEnabled = existsSync(`${root}sys/fs/selinux/enforce`);
  const kernelRelease = opts.kernelRelease ?? release();

  const facts: HostFacts = {
    cgroupDriver: opts.cgroupDriver,
    cgroupV2: existsSync(`${root}sys/fs/cgroup/cgroup.controllers`),
    daemonOomScoreAdj: Number.isFinite(oom) ? oom : 0,
    nofileHardLimit: nofile,
    apparmorEnabled,
    selinuxEnabled,
    supportsRecursiveReadOnly: supportsRecursiveReadOnly(kernelRelease, opts.runtimeMountOptions),
    kernelRelease,
    hugetlb: await probeHugetlb(root),
  };
  if (Number.isInteger(lastCap) && lastCap > 0) facts.capLastCap = lastCap;
  const own = capabilitiesFromStatus((await text('proc/self/status')) ?? '');
  if (own) facts.daemonCapabilities = own;
  if (apparmorEnabled && opts.apparmorDefaultProfile) facts.apparmorDefaultProfile = opts.apparmorDefaultProfile;
  return facts;
}
