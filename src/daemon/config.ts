// Loads the effective configuration: embedded defaults, then the JSON file, then NEXCAGE_*
// environment variables, then flags. Every layer is validated against config-schema.ts and a
// problem names the key and where it came from.
import { readFile } from 'node:fs/promises';
import { ConfigError, isErrno } from '../lib/errors.js';
import { configSchema, defaultConfig, defaultRuntimeHandler, type Config, type Spec } from './config-schema.js';

export const DEFAULT_CONFIG_FILE = '/etc/nexcage/config.json';

export interface ConfigSources {
  /** Path given with --config; when absent the default file is used if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag name (without --) -> value, e.g. { 'log-level': 'debug' }. */
  flags?: Record<string, string>;
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, if any. */
  file: string | undefined;
}

type Obj = Record<string, unknown>;

export async function loadConfig(sources: ConfigSources = {}): Promise<LoadedConfig> {
  const config = defaultConfig() as unknown as Obj;
  const file = sources.file ?? DEFAULT_CONFIG_FILE;
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (!(isErrno(err, 'ENOENT') && sources.file === undefined)) {
      throw new ConfigError(`config file ${file}: cannot be read: ${(err as Error).message}`);
    }
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${file}: not valid JSON: ${(err as Error).message}`);
    }
    mergeValue(config, parsed, configSchema, '', `config file ${file}`);
  }
  for (const leaf of leaves()) {
    const raw = sources.env?.[leaf.env];
    if (raw !== undefined) setLeaf(config, leaf, fromString(raw, leaf, `environment ${leaf.env}`), `environment ${leaf.env}`);
  }
  for (const [name, raw] of Object.entries(sources.flags ?? {})) {
    const leaf = leaves().find((l) => l.flag === name);
    if (!leaf) throw new ConfigError(`flag --${name} is not known (see --help)`);
    setLeaf(config, leaf, fromString(raw, leaf, `flag --${name}`), `flag --${name}`);
  }
  const result = config as unknown as Config;
  finish(result);
  return { config: result, file: text === undefined ? undefined : file };
}

/** A settable key: its dotted path, env variable and flag name. */
export interface Leaf {
  path: string[];
  key: string;
  env: string;
  flag: string;
  spec: Spec;
}

let leafCache: Leaf[] | undefined;
export function leaves(): Leaf[] {
  if (leafCache) return leafCache;
  const out: Leaf[] = [];
  const walk = (spec: Spec, path: string[]): void => {
    if (spec.kind === 'object' && path.length === 0) {
      for (const [k, s] of Object.entries(spec.fields)) walk(s, [k]);
      return;
    }
    if (spec.kind === 'object') {
      for (const [k, s] of Object.entries(spec.fields)) walk(s, [...path, k]);
      return;
    }
    const words = path.flatMap((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(' '));
    out.push({
      path,
      key: path.join('.'),
      env: 'NEXCAGE_' + words.map((w) => w.toUpperCase()).join('_'),
      flag: words.map((w) => w.toLowerCase()).join('-'),
      spec,
    });
  };
  walk(configSchema, []);
  leafCache = out;
  return out;
}

function fromString(raw: string, leaf: Leaf, source: string): unknown {
  const spec = leaf.spec;
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${source}: "${leaf.key}" must be a whole number, got "${raw}"`);
      return Number(raw);
    }
    case 'bool':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new ConfigError(`${source}: "${leaf.key}" must be true or false, got "${raw}"`);
    case 'strings':
      return raw === '' ? [] : raw.split(',').map((s) => s.trim());
    case 'record':
      try {
        return JSON.parse(raw);
      } catch {
        throw new ConfigError(`${source}: "${leaf.key}" must be a JSON object`);
      }
    default:
      return raw;
  }
}

function setLeaf(config: Obj, leaf: Leaf, value: unknown, source: string): void {
  let target = config;
  for (const p of leaf.path.slice(0, -1)) target = target[p] as Obj;
  const last = leaf.path[leaf.path.length - 1] as string;
  if (leaf.spec.kind === 'record') target[last] = {};
  const holder: Obj = { [last]: target[last] };
  mergeValue(holder, { [last]: value }, { kind: 'object', doc: '', fields: { [last]: leaf.spec } }, leaf.path.slice(0, -1).join('.'), source);
  target[last] = holder[last];
}

/** Validate `input` against `spec` and merge it into `target` (objects merge key by key). */
function mergeValue(target: Obj, input: unknown, spec: Spec & { kind: 'object' }, path: string, source: string): void {
  if (!isPlainObject(input)) throw new ConfigError(`${source}: ${path ? `"${path}"` : 'the top level'} must be a JSON object`);
  for (const [k, v] of Object.entries(input)) {
    const key = path ? `${path}.${k}` : k;
    // Own keys only: "constructor" or "toString" must not find Object.prototype's members.
    const field = Object.hasOwn(spec.fields, k) ? spec.fields[k] : undefined;
    if (!field) throw new ConfigError(`${source}: key "${key}" is not known`);
    target[k] = checked(target[k], v, field, key, source);
  }
}

function checked(current: unknown, v: unknown, spec: Spec, key: string, source: string): unknown {
  const fail = (why: string): never => {
    throw new ConfigError(`${source}: key "${key}" ${why}`);
  };
  switch (spec.kind) {
    case 'string': {
      if (typeof v !== 'string') return fail(`must be a string, got ${describe(v)}`);
      const problem = spec.check?.(v);
      return problem ? fail(problem) : v;
    }
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) return fail(`must be one of ${spec.values.join(', ')}, got ${describe(v)}`);
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) return fail(`must be a whole number, got ${describe(v)}`);
      if (v < spec.min || v > spec.max) return fail(`must be between ${spec.min} and ${spec.max}, got ${v}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') return fail(`must be true or false, got ${describe(v)}`);
      return v;
    case 'strings':
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) return fail(`must be a list of strings, got ${describe(v)}`);
      for (const s of v as string[]) {
        const problem = spec.check?.(s);
        if (problem) fail(`entry "${s}" ${problem}`);
      }
      return [...(v as string[])];
    case 'object': {
      const base: Obj = isPlainObject(current) ? { ...current } : {};
      mergeValue(base, v, spec, key, source);
      return base;
    }
    case 'record': {
      if (!isPlainObject(v)) return fail(`must be a JSON object, got ${describe(v)}`);
      const out: Obj = isPlainObject(current) ? { ...current } : {};
      for (const [name, entry] of Object.entries(v)) {
        if (name === '') fail('has an entry with an empty name');
        if (name === '__proto__') fail('has an entry named "__proto__"');
        const seed = spec.value.kind === 'object' ? { ...defaultRuntimeHandler(), ...(isPlainObject(out[name]) ? out[name] : {}) } : out[name];
        out[name] = checked(seed, entry, spec.value, `${key}.${name}`, source);
      }
      return out;
    }
  }
}

/** Cross-field rules that no single key can check. */
function finish(config: Config): void {
  if (config.socket.startsWith('unix://')) config.socket = config.socket.slice('unix://'.length);
  for (const [name, h] of Object.entries(config.runtimes)) {
    if (h.path === '') throw new ConfigError(`key "runtimes.${name}.path" is required`);
    if (h.root === '') h.root = `${config.stateDir}/${name}`;
  }
  if (!Object.hasOwn(config.runtimes, config.defaultRuntime)) {
    throw new ConfigError(`key "defaultRuntime" names "${config.defaultRuntime}", which is not in "runtimes"`);
  }
  if ((config.streaming.tlsCert === '') !== (config.streaming.tlsKey === '')) {
    throw new ConfigError('keys "streaming.tlsCert" and "streaming.tlsKey" must be set together');
  }
}

function isPlainObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? `"${v}"` : `${typeof v} ${JSON.stringify(v)}`;
}
