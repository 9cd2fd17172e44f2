// Loading a `Localhost` seccomp profile: the kubelet names a JSON file on the node. Read and
// validated here (errors name the file) so the spec builder receives a checked Seccomp object.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, isErrno } from '../../errors.js';
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

/** The file path a Localhost reference names ("localhost/<path>" or "<path>"); must be absolute. */
export function localhostProfilePath(ref: string): string {
  const path = ref.startsWith('localhost/') ? ref.slice('localhost/'.length) : ref;
  if (!path.startsWith('/')) {
    throw new InvalidArgumentError(`seccomp profile "${ref}": localhost profile path must be absolute`);
  }
  return path;
}

/** Reads and validates the Localhost profile `ref`. */
export async function loadLocalhostSeccomp(ref: string): Promise<Seccomp> {
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
 * Parses an OCI-format seccomp profile (also accepts docker's `archMap` and the old single `name`
 * per rule). Unknown fields are ignored, as containerd does.
 */
export function parseSeccompProfile(text: string, source: string): Seccomp {
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

  const profile: Seccomp = { defaultAction: action(raw.defaultAction, 'defaultAction', fail) };
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

function syscallRule(raw: unknown, where: string, fail: Fail): SeccompSyscall {
  if (!isObject(raw)) return fail(`${where} must be an object`);
  let names: string[];
  if (raw.names !== undefined) names = stringList(raw.names, `${where}.names`, fail);
  else if (typeof raw.name === 'string') names = [raw.name];
  else return fail(`${where} needs "names"`);
  if (names.length === 0) fail(`${where}.names is empty`);
  const rule: SeccompSyscall = { names, action: action(raw.action, `${where}.action`, fail) };
  if (raw.errnoRet !== undefined) rule.errnoRet = uint(raw.errnoRet, `${where}.errnoRet`, fail);
  if (raw.args !== undefined && raw.args !== null) {
    if (!Array.isArray(raw.args)) fail(`${where}.args must be an array`);
    rule.args = (raw.args as unknown[]).map((a, j) => syscallArg(a, `${where}.args[${j}]`, fail));
  }
  return rule;
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
