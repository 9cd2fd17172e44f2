// Loading a `Localhost` seccomp profile: the kubelet names a JSON file on the node. Read and
// validated here (errors name the file) so the spec builder receives a checked profile. Rules in
// docker's format may carry `includes` / `excludes` conditions (capabilities, architectures, a
// minimum kernel); they are kept from parsing and resolved per container by
// resolveLocalhostSeccomp, where the bounding set and the node are known, as moby and CRI-O do.
import { readFile } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError, isErrno } from '../../lib/errors.js';
import type { Seccomp, SeccompAction, SeccompArg, SeccompOperator, SeccompSyscall } from './types.js';

const ACTIONS: readonly SeccompAction[] = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
];
const OPERATORS: readonly SeccompOperator[] = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
];

/** A docker-format rule condition; absent fields (and empty lists) do not constrain. */
export interface SeccompRuleCondition {
  /** CAP_ names, compared with the container's bounding set. */
  caps?: string[];
  /** Architectures as moby writes them (amd64, x86, arm64, arm, ppc64le, s390x, riscv64, ...). */
  arches?: string[];
  /** "major.minor", compared with the node's kernel release. */
  minKernel?: string;
}

/** A rule of a loaded profile: an OCI rule plus docker's conditions, never written to config.json. */
export interface LocalhostSeccompSyscall extends SeccompSyscall {
  includes?: SeccompRuleCondition;
  excludes?: SeccompRuleCondition;
}

/** A loaded Localhost profile: resolve it per container with resolveLocalhostSeccomp. */
export interface LocalhostSeccomp extends Omit<Seccomp, 'syscalls'> {
  syscalls?: LocalhostSeccompSyscall[];
}

/** The file path a Localhost reference names ("localhost/<path>" or "<path>"); must be absolute. */
export function localhostProfilePath(ref: string): string {
  const path = ref.startsWith('localhost/') ? ref.slice('localhost/'.length) : ref;
  if (!path.startsWith('/')) {
    throw new InvalidArgumentError(`seccomp profile "${ref}": localhost profile path must be absolute`);
  }
  return path;
}

/** Reads and validates the Localhost profile `ref`. */
export async function loadLocalhostSeccomp(ref: string): Promise<LocalhostSeccomp> {
  const path = localhostProfilePath(ref);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const why = isErrno(err, 'ENOENT') ? 'file does not exist' : `cannot read: ${(err as Error).message}`;
    throw new InvalidArgumentError(`seccomp profile "${path}": ${why}`, { cause: err });
  }
  return parseSeccompProfile(text, path);
}

/**
 * Parses an OCI-format seccomp profile (also accepts docker's `archMap`, the old single `name`
 * per rule and the rules' `includes` / `excludes`). Unknown fields are ignored, as containerd does.
 */
export function parseSeccompProfile(text: string, source: string): LocalhostSeccomp {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`seccomp profile "${source}": ${why}`);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) return fail('must be a JSON object');

  const profile: LocalhostSeccomp = { defaultAction: action(raw.defaultAction, 'defaultAction', fail) };
  if (raw.defaultErrnoRet !== undefined) profile.defaultErrnoRet = uint(raw.defaultErrnoRet, 'defaultErrnoRet', fail);

  const arches = new Set<string>();
  if (raw.architectures !== undefined) for (const a of stringList(raw.architectures, 'architectures', fail)) arches.add(a);
  if (raw.archMap !== undefined) {
    if (!Array.isArray(raw.archMap)) fail('archMap must be an array');
    for (const [i, entry] of (raw.archMap as unknown[]).entries()) {
      if (!isObject(entry) || typeof entry.architecture !== 'string') return fail(`archMap[${i}].architecture must be a string`);
      arches.add(entry.architecture);
      if (entry.subArchitectures !== undefined) {
        for (const a of stringList(entry.subArchitectures, `archMap[${i}].subArchitectures`, fail)) arches.add(a);
      }
    }
  }
  if (arches.size > 0) profile.architectures = [...arches];
  if (raw.flags !== undefined) profile.flags = stringList(raw.flags, 'flags', fail);
  if (raw.listenerPath !== undefined) {
    if (typeof raw.listenerPath !== 'string') fail('listenerPath must be a string');
    profile.listenerPath = raw.listenerPath as string;
  }
  if (raw.listenerMetadata !== undefined) {
    if (typeof raw.listenerMetadata !== 'string') fail('listenerMetadata must be a string');
    profile.listenerMetadata = raw.listenerMetadata as string;
  }
  // runc refuses these at create with a less helpful message: the notifying process could not
  // hand the listener fd over (write) or would never get past its own filter (default action).
  if (profile.defaultAction === 'SCMP_ACT_NOTIFY') fail('SCMP_ACT_NOTIFY cannot be the default action');

  if (raw.syscalls !== undefined) {
    if (!Array.isArray(raw.syscalls)) return fail('syscalls must be an array');
    profile.syscalls = (raw.syscalls as unknown[]).map((r, i) => syscallRule(r, `syscalls[${i}]`, fail));
    for (const [i, rule] of profile.syscalls.entries()) {
      if (rule.action !== 'SCMP_ACT_NOTIFY') continue;
      if (rule.names.includes('write')) fail(`syscalls[${i}]: SCMP_ACT_NOTIFY cannot be used for the write syscall`);
      if (!profile.listenerPath) fail(`syscalls[${i}]: SCMP_ACT_NOTIFY needs listenerPath`);
    }
  }
  return profile;
}

type Fail = (why: string) => never;

/** What a container's rules are resolved against. */
export interface SeccompRuleContext {
  /** The container's (or infra process's) bounding capabilities, CAP_ names. */
  capabilities: readonly string[];
  /** Node `process.arch` value (x64, arm64, ...). */
  arch: string;
  /** The node's kernel release (uname -r), e.g. "6.8.0-45-generic". */
  kernelRelease: string;
}

/**
 * The OCI profile a container gets from a loaded Localhost profile: rules whose conditions do not
 * hold are dropped, as moby's and CRI-O's setupSeccomp do (skip when excludes.arches has the
 * node's arch, excludes.caps has any bounding cap, excludes.minKernel <= kernel, includes.arches
 * lacks the arch, includes.caps has one not in the bounding set, includes.minKernel > kernel).
 * The result has only OCI fields: runc does not know includes/excludes.
 */
export function resolveLocalhostSeccomp(profile: LocalhostSeccomp, ctx: SeccompRuleContext): Seccomp {
  const { syscalls, ...rest } = profile;
  const out: Seccomp = { ...rest };
  if (rest.architectures) out.architectures = [...rest.architectures];
  if (rest.flags) out.flags = [...rest.flags];
  if (!syscalls) return out;
  const arches = archNames(ctx.arch);
  const bounding = new Set(ctx.capabilities);
  let kernel: [number, number] | undefined;
  const kernelAtLeast = (min: string, where: string): boolean => {
    kernel ??= kernelVersion(ctx.kernelRelease, where);
    const [major, minor] = min.split('.').map(Number) as [number, number];
    return kernel[0] > major || (kernel[0] === major && kernel[1] >= minor);
  };
  out.syscalls = [];
  for (const [i, rule] of syscalls.entries()) {
    const { includes: inc, excludes: exc } = rule;
    const where = `syscalls[${i}]`;
    if (exc?.arches?.some((a) => arches.has(a))) continue;
    if (exc?.caps?.some((c) => bounding.has(c))) continue;
    if (exc?.minKernel && kernelAtLeast(exc.minKernel, where)) continue;
    if (inc?.arches && !inc.arches.some((a) => arches.has(a))) continue;
    if (inc?.caps && !inc.caps.every((c) => bounding.has(c))) continue;
    if (inc?.minKernel && !kernelAtLeast(inc.minKernel, where)) continue;
    const oci: SeccompSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet !== undefined) oci.errnoRet = rule.errnoRet;
    if (rule.args) oci.args = rule.args.map((a) => ({ ...a }));
    out.syscalls.push(oci);
  }
  return out;
}

/**
 * The names a rule's `arches` may use for the node's architecture: moby's (libseccomp's native
 * names: amd64, x86, arm64, ...) and, where it differs, Go's GOARCH name.
 */
const ARCH_NAMES: Readonly<Record<string, readonly string[]>> = {
  x64: ['amd64'],
  ia32: ['x86', '386'],
  arm64: ['arm64'],
  arm: ['arm'],
  ppc64: ['ppc64le'],
  s390x: ['s390x'],
  riscv64: ['riscv64'],
  loong64: ['loong64', 'loongarch64'],
  mips: ['mips'],
  mipsel: ['mipsel', 'mipsle'],
  mips64el: ['mipsel64', 'mips64le'],
};

function archNames(nodeArch: string): Set<string> {
  return new Set(ARCH_NAMES[nodeArch] ?? [nodeArch]);
}

function kernelVersion(release: string, where: string): [number, number] {
  const m = release.match(/^(\d+)\.(\d+)/);
  if (!m) throw new FailedPreconditionError(`seccomp rule ${where} needs the kernel version, but the node's kernel release "${release}" cannot be parsed`);
  return [Number(m[1]), Number(m[2])];
}

function syscallRule(raw: unknown, where: string, fail: Fail): LocalhostSeccompSyscall {
  if (!isObject(raw)) return fail(`${where} must be an object`);
  let names: string[];
  if (raw.names !== undefined) names = stringList(raw.names, `${where}.names`, fail);
  else if (typeof raw.name === 'string') names = [raw.name];
  else return fail(`${where} needs "names"`);
  if (names.length === 0) fail(`${where}.names is empty`);
  const rule: LocalhostSeccompSyscall = { names, action: action(raw.action, `${where}.action`, fail) };
  if (raw.errnoRet !== undefined) rule.errnoRet = uint(raw.errnoRet, `${where}.errnoRet`, fail);
  if (raw.args !== undefined && raw.args !== null) {
    if (!Array.isArray(raw.args)) fail(`${where}.args must be an array`);
    rule.args = (raw.args as unknown[]).map((a, j) => syscallArg(a, `${where}.args[${j}]`, fail));
  }
  const includes = condition(raw.includes, `${where}.includes`, fail);
  if (includes) rule.includes = includes;
  const excludes = condition(raw.excludes, `${where}.excludes`, fail);
  if (excludes) rule.excludes = excludes;
  return rule;
}

/** A rule's includes/excludes; undefined when it constrains nothing (docker writes `{}`). */
function condition(raw: unknown, where: string, fail: Fail): SeccompRuleCondition | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) return fail(`${where} must be an object`);
  const out: SeccompRuleCondition = {};
  if (raw.caps !== undefined && raw.caps !== null) {
    const caps = stringList(raw.caps, `${where}.caps`, fail);
    if (caps.length > 0) out.caps = caps;
  }
  if (raw.arches !== undefined && raw.arches !== null) {
    const arches = stringList(raw.arches, `${where}.arches`, fail);
    if (arches.length > 0) out.arches = arches;
  }
  if (raw.minKernel !== undefined && raw.minKernel !== null && raw.minKernel !== '') {
    if (typeof raw.minKernel !== 'string' || !/^\d+\.\d+$/.test(raw.minKernel)) {
      return fail(`${where}.minKernel ${JSON.stringify(raw.minKernel)} must be a "major.minor" kernel version`);
    }
    out.minKernel = raw.minKernel;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function syscallArg(raw: unknown, where: string, fail: Fail): SeccompArg {
  if (!isObject(raw)) return fail(`${where} must be an object`);
  const index = uint(raw.index, `${where}.index`, fail);
  if (index > 5) fail(`${where}.index must be 0..5`);
  const op = raw.op;
  if (typeof op !== 'string' || !(OPERATORS as readonly string[]).includes(op)) return fail(`${where}.op "${String(op)}" is not a seccomp operator`);
  const arg: SeccompArg = { index, value: uint(raw.value, `${where}.value`, fail), op: op as SeccompOperator };
  if (raw.valueTwo !== undefined) arg.valueTwo = uint(raw.valueTwo, `${where}.valueTwo`, fail);
  return arg;
}

function action(raw: unknown, where: string, fail: Fail): SeccompAction {
  if (typeof raw !== 'string' || !(ACTIONS as readonly string[]).includes(raw)) {
    return fail(`${where} "${String(raw)}" is not a seccomp action`);
  }
  return raw as SeccompAction;
}

function uint(raw: unknown, where: string, fail: Fail): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) return fail(`${where} must be a non-negative integer`);
  return raw;
}

function stringList(raw: unknown, where: string, fail: Fail): string[] {
  if (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string')) return fail(`${where} must be a list of strings`);
  return [...(raw as string[])];
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
