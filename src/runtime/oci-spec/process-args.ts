// The argv and environment of a container process from the CRI config and the image config,
// merged by the rules the kubelet and containerd apply (Kubernetes "command"/"args" vs the image's
// ENTRYPOINT/CMD).
import { InvalidArgumentError } from '../../lib/errors.js';
import type { KeyValue } from '../container/container-config.js';
import { DEFAULT_PATH_ENV } from './defaults.js';

/**
 * - command set: command + args (the image's ENTRYPOINT and CMD are both ignored);
 * - command empty: ENTRYPOINT + (args if set, else CMD).
 * An ENTRYPOINT of [""] means "no entrypoint" (docker's way to reset it). Nothing at all is an error.
 */
export function mergeCommand(
  command: readonly string[] | undefined,
  args: readonly string[] | undefined,
  entrypoint: readonly string[] | null | undefined,
  cmd: readonly string[] | null | undefined,
): string[] {
  let head = [...(command ?? [])];
  let tail = [...(args ?? [])];
  if (head.length === 0) {
    if (tail.length === 0) tail = [...(cmd ?? [])];
    const ep = entrypoint ?? [];
    if (!(ep.length === 1 && ep[0] === '')) head = [...ep];
  }
  const argv = [...head, ...tail];
  if (argv.length === 0) {
    throw new InvalidArgumentError('no command specified: the container config and the image define neither command nor args');
  }
  return argv;
}

/**
 * PATH default, HOSTNAME, then the image's env, then the CRI env; a later value for the same
 * name replaces the earlier one in place (so the order stays stable).
 */
export function mergeEnv(imageEnv: readonly string[] | null | undefined, criEnv: readonly KeyValue[] | undefined, hostname?: string): string[] {
  const out: string[] = [];
  const index = new Map<string, number>();
  const set = (entry: string): void => {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    if (name === '') return;
    const at = index.get(name);
    if (at === undefined) {
      index.set(name, out.length);
      out.push(entry);
    } else out[at] = entry;
  };
  set(DEFAULT_PATH_ENV);
  if (hostname) set(`HOSTNAME=${hostname}`);
  for (const e of imageEnv ?? []) set(e);
  for (const kv of criEnv ?? []) {
    if (kv.key === '') throw new InvalidArgumentError('envs: an environment variable has an empty name');
    set(`${kv.key}=${kv.value}`);
  }
  return out;
}
