// Container Device Interface: vendor spec files (/etc/cdi, /var/run/cdi) describe devices by a
// fully-qualified name "vendor.com/class=name" and the container edits they need (device nodes,
// env, mounts, hooks, extra groups). Parsing, lookup and applying the edits are pure; reading the
// files is cdi-loader.ts.
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { Hook, Hooks, Spec } from './types.js';

// The YAML parser (~3 MB of heap and code) is loaded by the first .yaml spec, not at daemon start:
// most nodes have no CDI specs, or JSON ones.
const require = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

export interface CdiDeviceNode {
  /** Path in the container. */
  path: string;
  /** Path on the host; default `path`. */
  hostPath?: string;
  type?: 'c' | 'b' | 'u' | 'p';
  major?: number;
  minor?: number;
  fileMode?: number;
  /** cgroup access, e.g. "rw"; default "rwm". */
  permissions?: string;
  uid?: number;
  gid?: number;
}

export interface CdiMount {
  hostPath: string;
  containerPath: string;
  type?: string;
  options?: string[];
}

export interface CdiHook {
  hookName: keyof Hooks;
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface CdiContainerEdits {
  env?: string[];
  deviceNodes?: CdiDeviceNode[];
  mounts?: CdiMount[];
  hooks?: CdiHook[];
  additionalGids?: number[];
}

export interface CdiSpec {
  cdiVersion: string;
  /** "vendor.com/class" */
  kind: string;
  devices: { name: string; containerEdits: CdiContainerEdits }[];
  containerEdits?: CdiContainerEdits;
  /** File it came from (for messages and priority). */
  source: string;
}

const KIND = /^[a-zA-Z0-9][a-zA-Z0-9.-]*\/[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const DEVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$/;
const HOOK_NAMES: readonly (keyof Hooks)[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

/** Parses one CDI spec file (JSON or YAML). */
export function parseCdiSpec(text: string, source: string): CdiSpec {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`CDI spec "${source}": ${why}`);
  };
  let raw: unknown;
  try {
    raw = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    return fail(`cannot parse: ${(err as Error).message}`);
  }
  if (!isObject(raw)) return fail('not an object');
  if (typeof raw.cdiVersion !== 'string') fail('cdiVersion missing');
  if (typeof raw.kind !== 'string' || !KIND.test(raw.kind)) fail(`kind "${String(raw.kind)}" is not like vendor.com/class`);
  if (!Array.isArray(raw.devices)) return fail('devices must be a list');
  const devices = (raw.devices as unknown[]).map((d, i) => {
    if (!isObject(d) || typeof d.name !== 'string' || !DEVICE_NAME.test(d.name)) return fail(`devices[${i}].name is missing or invalid`);
    return { name: d.name, containerEdits: edits(d.containerEdits, `devices[${i}].containerEdits`, fail) };
  });
  const spec: CdiSpec = { cdiVersion: raw.cdiVersion as string, kind: raw.kind as string, devices, source };
  if (raw.containerEdits !== undefined) spec.containerEdits = edits(raw.containerEdits, 'containerEdits', fail);
  return spec;
}

/** Splits "vendor.com/class=name"; InvalidArgument when malformed. */
export function parseCdiName(name: string): { kind: string; device: string } {
  const eq = name.indexOf('=');
  const kind = name.slice(0, eq);
  const device = name.slice(eq + 1);
  if (eq < 0 || !KIND.test(kind) || !DEVICE_NAME.test(device)) {
    throw new InvalidArgumentError(`CDI device "${name}": not a fully-qualified name like vendor.com/class=device`);
  }
  return { kind, device };
}

/**
 * The edits for the requested devices: each device's edits plus its spec's common edits (once per
 * spec). When several files define the same device, the later spec in `specs` wins (callers pass
 * /etc/cdi before /var/run/cdi, so dynamic specs override static ones, as the CDI spec says).
 */
export function cdiEditsFor(names: readonly string[], specs: readonly CdiSpec[]): CdiContainerEdits[] {
  const out: CdiContainerEdits[] = [];
  const specsUsed = new Set<CdiSpec>();
  for (const name of names) {
    const { kind, device } = parseCdiName(name);
    let found: { spec: CdiSpec; edits: CdiContainerEdits } | undefined;
    for (const spec of specs) {
      if (spec.kind !== kind) continue;
      const d = spec.devices.find((x) => x.name === device);
      if (d) found = { spec, edits: d.containerEdits };
    }
    if (!found) throw new InvalidArgumentError(`CDI device "${name}": no CDI spec defines it`);
    if (found.spec.containerEdits && !specsUsed.has(found.spec)) {
      specsUsed.add(found.spec);
      out.push(found.spec.containerEdits);
    }
    out.push(found.edits);
  }
  return out;
}

/** Applies CDI edits to a built spec (in place). Device nodes must have type/major/minor resolved. */
export function applyCdiEdits(spec: Spec, all: readonly CdiContainerEdits[]): void {
  const proc = spec.process!;
  const linux = (spec.linux ??= {});
  for (const e of all) {
    for (const entry of e.env ?? []) {
      const name = entry.split('=', 1)[0]!;
      const env = (proc.env ??= []);
      const at = env.findIndex((x) => x.split('=', 1)[0] === name);
      if (at >= 0) env[at] = entry;
      else env.push(entry);
    }
    for (const n of e.deviceNodes ?? []) {
      if (n.type === undefined || n.major === undefined || n.minor === undefined) {
        throw new InvalidArgumentError(`CDI device node "${n.path}": type/major/minor not resolved`);
      }
      const devices = (linux.devices ??= []).filter((d) => d.path !== n.path);
      const node = { path: n.path, type: n.type, major: n.major, minor: n.minor } as NonNullable<typeof linux.devices>[number];
      if (n.fileMode !== undefined) node.fileMode = n.fileMode;
      // as the CDI reference (container-edits.go) does: a node without an owner belongs to a
      // non-root process user, so the container can open it
      if (n.uid !== undefined) node.uid = n.uid;
      else if (proc.user.uid > 0) node.uid = proc.user.uid;
      if (n.gid !== undefined) node.gid = n.gid;
      else if (proc.user.gid > 0) node.gid = proc.user.gid;
      devices.push(node);
      linux.devices = devices;
      if (n.type === 'c' || n.type === 'b') {
        const resources = (linux.resources ??= {});
        (resources.devices ??= []).push({ allow: true, type: n.type, major: n.major, minor: n.minor, access: n.permissions || 'rwm' });
      }
    }
    for (const m of e.mounts ?? []) {
      const mounts = (spec.mounts ??= []).filter((x) => x.destination !== m.containerPath);
      mounts.push({ destination: m.containerPath, source: m.hostPath, type: m.type ?? 'bind', options: m.options ?? ['rbind', 'rprivate', 'rw'] });
      spec.mounts = mounts;
    }
    for (const h of e.hooks ?? []) {
      const hooks = (spec.hooks ??= {});
      const hook: Hook = { path: h.path };
      if (h.args) hook.args = [...h.args];
      if (h.env) hook.env = [...h.env];
      if (h.timeout !== undefined) hook.timeout = h.timeout;
      (hooks[h.hookName] ??= []).push(hook);
    }
    for (const g of e.additionalGids ?? []) {
      // skipped like the CDI reference does: a vendor file must not put the process in the root group
      if (g === 0) continue;
      const gids = (proc.user.additionalGids ??= []);
      if (!gids.includes(g)) gids.push(g);
    }
  }
}

type Fail = (why: string) => never;

function edits(raw: unknown, where: string, fail: Fail): CdiContainerEdits {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) return fail(`${where} must be an object`);
  const out: CdiContainerEdits = {};
  if (raw.env !== undefined) out.env = strings(raw.env, `${where}.env`, fail);
  if (raw.deviceNodes !== undefined) {
    out.deviceNodes = list(raw.deviceNodes, `${where}.deviceNodes`, fail).map((n, i) => {
      const w = `${where}.deviceNodes[${i}]`;
      if (!isObject(n) || typeof n.path !== 'string' || !n.path.startsWith('/')) return fail(`${w}.path must be an absolute path`);
      const node: CdiDeviceNode = { path: n.path };
      if (n.hostPath !== undefined) node.hostPath = str(n.hostPath, `${w}.hostPath`, fail);
      if (n.type !== undefined) {
        if (!['c', 'b', 'u', 'p'].includes(n.type as string)) fail(`${w}.type must be c, b, u or p`);
        node.type = n.type as CdiDeviceNode['type'];
      }
      for (const k of ['major', 'minor', 'fileMode', 'uid', 'gid'] as const) {
        if (n[k] !== undefined) node[k] = int(n[k], `${w}.${k}`, fail);
      }
      if (n.permissions !== undefined) {
        const p = str(n.permissions, `${w}.permissions`, fail);
        if (!/^[rwm]{0,3}$/.test(p)) fail(`${w}.permissions "${p}" must be made of r, w, m`);
        node.permissions = p;
      }
      return node;
    });
  }
  if (raw.mounts !== undefined) {
    out.mounts = list(raw.mounts, `${where}.mounts`, fail).map((m, i) => {
      const w = `${where}.mounts[${i}]`;
      if (!isObject(m)) return fail(`${w} must be an object`);
      const hostPath = str(m.hostPath, `${w}.hostPath`, fail);
      const containerPath = str(m.containerPath, `${w}.containerPath`, fail);
      if (!containerPath.startsWith('/') || containerPath.split('/').includes('..')) fail(`${w}.containerPath must be absolute without ".."`);
      const mount: CdiMount = { hostPath, containerPath };
      if (m.type !== undefined) mount.type = str(m.type, `${w}.type`, fail);
      if (m.options !== undefined) mount.options = strings(m.options, `${w}.options`, fail);
      return mount;
    });
  }
  if (raw.hooks !== undefined) {
    out.hooks = list(raw.hooks, `${where}.hooks`, fail).map((h, i) => {
      const w = `${where}.hooks[${i}]`;
      if (!isObject(h)) return fail(`${w} must be an object`);
      const hookName = str(h.hookName, `${w}.hookName`, fail);
      if (!(HOOK_NAMES as readonly string[]).includes(hookName)) fail(`${w}.hookName "${hookName}" is not an OCI hook`);
      const hook: CdiHook = { hookName: hookName as keyof Hooks, path: str(h.path, `${w}.path`, fail) };
      if (h.args !== undefined) hook.args = strings(h.args, `${w}.args`, fail);
      if (h.env !== undefined) hook.env = strings(h.env, `${w}.env`, fail);
      if (h.timeout !== undefined) hook.timeout = int(h.timeout, `${w}.timeout`, fail);
      return hook;
    });
  }
  if (raw.additionalGids !== undefined) out.additionalGids = list(raw.additionalGids, `${where}.additionalGids`, fail).map((g, i) => int(g, `${where}.additionalGids[${i}]`, fail));
  return out;
}

function list(raw: unknown, where: string, fail: Fail): unknown[] {
  if (raw === null) return [];
  if (!Array.isArray(raw)) return fail(`${where} must be a list`);
  return raw as unknown[];
}
function strings(raw: unknown, where: string, fail: Fail): string[] {
  const l = list(raw, where, fail);
  if (l.some((x) => typeof x !== 'string')) fail(`${where} must be a list of strings`);
  return l as string[];
}
function str(raw: unknown, where: string, fail: Fail): string {
  if (typeof raw !== 'string' || raw === '') return fail(`${where} must be a non-empty string`);
  return raw;
}
function int(raw: unknown, where: string, fail: Fail): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) return fail(`${where} must be a non-negative integer`);
  return raw;
}
function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
