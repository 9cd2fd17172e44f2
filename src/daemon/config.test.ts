import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import { leaves, loadConfig } from './config.js';

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexcage-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const write = async (name: string, body: unknown): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, typeof body === 'string' ? body : JSON.stringify(body));
    return p;
  };

  it('uses the embedded defaults when the default file is absent', async () => {
    const { config, file } = await loadConfig({ file: undefined, env: {} });
    expect(file === undefined || file === '/etc/nexcage/config.json').toBe(true);
    expect(config.socket).toBe('/run/nexcage/sock/nexcage.sock');
    expect(config.runtimes.runc).toEqual({ path: 'runc', root: '/run/nexcage/runc', systemdCgroup: false });
    expect(config.metricsAddress).toBe('127.0.0.1:9101');
    expect(config.registry).toMatchObject({ minBlobBytesPerSecond: 1024, minBlobRateWindowSeconds: 30 });
  });

  it('layers file, then environment, then flags', async () => {
    const file = await write('layers.json', { logLevel: 'warn', rootDir: '/srv/a', cni: { binDirs: ['/x'] } });
    const { config } = await loadConfig({
      file,
      env: { NEXCAGE_LOG_LEVEL: 'error', NEXCAGE_STATE_DIR: '/run/b' },
      flags: { 'log-level': 'debug' },
    });
    expect(config.logLevel).toBe('debug');
    expect(config.rootDir).toBe('/srv/a');
    expect(config.stateDir).toBe('/run/b');
    expect(config.cni.binDirs).toEqual(['/x']);
    expect(config.cni.confDirs).toEqual(['/etc/cni/net.d']);
    expect(config.runtimes.runc?.root).toBe('/run/b/runc');
  });

  it('accepts a unix:// socket URL and stores the path', async () => {
    const { config } = await loadConfig({ file: await write('s.json', { socket: 'unix:///tmp/x.sock' }), env: {} });
    expect(config.socket).toBe('/tmp/x.sock');
  });

  it('adds runtime handlers with their defaults', async () => {
    const file = await write('rt.json', { runtimes: { crun: { path: '/usr/bin/crun' } } });
    const { config } = await loadConfig({ file, env: {} });
    expect(Object.keys(config.runtimes).sort()).toEqual(['crun', 'runc']);
    expect(config.runtimes.crun).toEqual({ path: '/usr/bin/crun', root: '/run/nexcage/crun', systemdCgroup: false });
  });

  const bad: [string, unknown, RegExp][] = [
    ['unknown key', { logLevl: 'debug' }, /key "logLevl" is not known/],
    ['nested unknown key', { cni: { confDir: '/x' } }, /key "cni.confDir" is not known/],
    ['wrong type', { shutdownTimeoutSeconds: 'ten' }, /key "shutdownTimeoutSeconds" must be a whole number/],
    ['impossible value', { registry: { maxConcurrentDownloads: 0 } }, /"registry.maxConcurrentDownloads" must be between 1 and 64/],
    ['negative rate floor', { registry: { minBlobBytesPerSecond: -1 } }, /"registry.minBlobBytesPerSecond" must be between 0 and 1073741824/],
    ['bad enum', { cgroupDriver: 'cgroupv3' }, /"cgroupDriver" must be one of auto, systemd, cgroupfs/],
    ['relative path', { rootDir: 'var/lib' }, /"rootDir" must be an absolute path/],
    ['bad address', { metricsAddress: 'localhost' }, /"metricsAddress" must be HOST:PORT/],
    ['handler without path', { runtimes: { kata: { root: '/run/k' } } }, /"runtimes.kata.path" is required/],
    ['default handler missing', { defaultRuntime: 'youki' }, /"defaultRuntime" names "youki"/],
  ];
  for (const [what, body, message] of bad) {
    it(`rejects a file with a ${what}, naming the key and the file`, async () => {
      const file = await write(`bad-${what.replace(/ /g, '-')}.json`, body);
      const err = await loadConfig({ file, env: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
      if (!/required|names/.test(String(message))) expect((err as Error).message).toContain(file);
    });
  }

  it('rejects a file that is not JSON', async () => {
    const file = await write('broken.json', '{ "socket": ');
    await expect(loadConfig({ file, env: {} })).rejects.toThrow(/not valid JSON/);
  });

  it('fails when an explicitly named file is missing', async () => {
    await expect(loadConfig({ file: join(dir, 'absent.json'), env: {} })).rejects.toThrow(/cannot be read/);
  });

  it('names the environment variable that carries a bad value', async () => {
    await expect(loadConfig({ file: await write('e.json', {}), env: { NEXCAGE_SHUTDOWN_TIMEOUT_SECONDS: 'x' } })).rejects.toThrow(
      /environment NEXCAGE_SHUTDOWN_TIMEOUT_SECONDS: "shutdownTimeoutSeconds" must be a whole number/,
    );
  });

  it('rejects an unknown flag', async () => {
    await expect(loadConfig({ file: await write('f.json', {}), env: {}, flags: { 'no-such': '1' } })).rejects.toThrow(/--no-such is not known/);
  });

  it('derives one env variable and one flag per key', () => {
    const byKey = new Map(leaves().map((l) => [l.key, l]));
    expect(byKey.get('registry.noProgressTimeoutSeconds')).toMatchObject({
      env: 'NEXCAGE_REGISTRY_NO_PROGRESS_TIMEOUT_SECONDS',
      flag: 'registry-no-progress-timeout-seconds',
    });
    expect(byKey.get('registry.minBlobBytesPerSecond')).toMatchObject({
      env: 'NEXCAGE_REGISTRY_MIN_BLOB_BYTES_PER_SECOND',
      flag: 'registry-min-blob-bytes-per-second',
    });
    expect(byKey.get('rootDir')?.flag).toBe('root-dir');
  });
});

describe('loadConfig: values from environment variables and flags', () => {
  const refusal = async (sources: Parameters<typeof loadConfig>[0]): Promise<string> => {
    const err = await loadConfig(sources).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('INVALID_ARGUMENT');
    return (err as Error).message;
  };
  let dir: string;
  let empty: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexcage-config-env-'));
    empty = join(dir, 'empty.json');
    await writeFile(empty, '{}');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a flag beats the environment, which beats the file', async () => {
    const file = join(dir, 'timeout.json');
    await writeFile(file, JSON.stringify({ shutdownTimeoutSeconds: 5 }));
    const env = { NEXCAGE_SHUTDOWN_TIMEOUT_SECONDS: '7' };
    expect((await loadConfig({ file, env: {} })).config.shutdownTimeoutSeconds).toBe(5);
    expect((await loadConfig({ file, env })).config.shutdownTimeoutSeconds).toBe(7);
    expect((await loadConfig({ file, env, flags: { 'shutdown-timeout-seconds': '9' } })).config.shutdownTimeoutSeconds).toBe(9);
  });

  it('reads booleans as true/1 and false/0', async () => {
    for (const [raw, want] of [['true', true], ['1', true], ['false', false], ['0', false]] as const) {
      const { config } = await loadConfig({ file: empty, env: { NEXCAGE_STATS_CONTAINER_METRICS: raw } });
      expect(config.stats.containerMetrics).toBe(want);
    }
  });

  it('refuses a boolean spelled otherwise, naming the variable, the key and the value', async () => {
    expect(await refusal({ file: empty, env: { NEXCAGE_STATS_CONTAINER_METRICS: 'yes' } })).toBe(
      'environment NEXCAGE_STATS_CONTAINER_METRICS: "stats.containerMetrics" must be true or false, got "yes"',
    );
  });

  it('reads whole numbers and checks their range, naming the flag', async () => {
    expect((await loadConfig({ file: empty, flags: { 'streaming-port': '10010' } })).config.streaming.port).toBe(10010);
    expect(await refusal({ file: empty, flags: { 'streaming-port': '1.5' } })).toBe('flag --streaming-port: "streaming.port" must be a whole number, got "1.5"');
    expect(await refusal({ file: empty, flags: { 'streaming-port': '70000' } })).toBe('flag --streaming-port: key "streaming.port" must be between 0 and 65535, got 70000');
  });

  it('reads lists as comma-separated values, trimmed; an empty value clears the list', async () => {
    const { config } = await loadConfig({ file: empty, env: { NEXCAGE_CNI_BIN_DIRS: '/opt/cni/bin, /usr/libexec/cni', NEXCAGE_REGISTRY_INSECURE: '' } });
    expect(config.cni.binDirs).toEqual(['/opt/cni/bin', '/usr/libexec/cni']);
    expect(config.registry.insecure).toEqual([]);
    expect((await loadConfig({ file: empty, env: { NEXCAGE_CNI_CONF_DIRS: '' } })).config.cni.confDirs).toEqual([]);
  });

  it('checks every list entry, naming the entry', async () => {
    expect(await refusal({ file: empty, env: { NEXCAGE_CNI_BIN_DIRS: '/opt/cni/bin,opt/cni' } })).toBe(
      'environment NEXCAGE_CNI_BIN_DIRS: key "cni.binDirs" entry "opt/cni" must be an absolute path',
    );
  });

  it('reads a map as JSON, replacing the file\'s map as a whole', async () => {
    const file = join(dir, 'mirrors.json');
    await writeFile(file, JSON.stringify({ registry: { mirrors: { 'quay.io': ['http://q:5000'] } } }));
    const { config } = await loadConfig({ file, env: { NEXCAGE_REGISTRY_MIRRORS: '{"docker.io":["http://127.0.0.1:5000"]}' } });
    expect(config.registry.mirrors).toEqual({ 'docker.io': ['http://127.0.0.1:5000'] });
    const flags = { runtimes: '{"crun":{"path":"/usr/bin/crun"}}', 'default-runtime': 'crun' };
    expect((await loadConfig({ file, env: {}, flags })).config.runtimes).toEqual({ crun: { path: '/usr/bin/crun', root: '/run/nexcage/crun', systemdCgroup: false } });
  });

  it('refuses a map that is not a JSON object, naming the variable and the key', async () => {
    expect(await refusal({ file: empty, env: { NEXCAGE_REGISTRY_MIRRORS: 'docker.io=http://m' } })).toBe('environment NEXCAGE_REGISTRY_MIRRORS: "registry.mirrors" must be a JSON object');
    expect(await refusal({ file: empty, env: { NEXCAGE_REGISTRY_MIRRORS: '["http://m"]' } })).toBe(
      'environment NEXCAGE_REGISTRY_MIRRORS: key "registry.mirrors" must be a JSON object, got a list',
    );
    expect(await refusal({ file: empty, env: { NEXCAGE_REGISTRY_MIRRORS: '{"docker.io":"http://m"}' } })).toBe(
      'environment NEXCAGE_REGISTRY_MIRRORS: key "registry.mirrors.docker.io" must be a list of strings, got "http://m"',
    );
  });

  it('checks enums and strings from the environment like the file', async () => {
    expect(await refusal({ file: empty, env: { NEXCAGE_LOG_FORMAT: 'yaml' } })).toBe('environment NEXCAGE_LOG_FORMAT: key "logFormat" must be one of json, text, got "yaml"');
    expect(await refusal({ file: empty, env: { NEXCAGE_STATE_DIR: 'run' } })).toBe('environment NEXCAGE_STATE_DIR: key "stateDir" must be an absolute path');
  });
});

describe('loadConfig: file values of the wrong shape', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexcage-config-shape-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const refusal = async (body: unknown): Promise<string> => {
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify(body));
    const err = await loadConfig({ file, env: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.replace(file, 'FILE');
  };

  const cases: [string, unknown, string][] = [
    ['a list at the top level', ['socket'], 'config file FILE: the top level must be a JSON object'],
    ['a section that is not an object', { cni: ['/x'] }, 'config file FILE: "cni" must be a JSON object'],
    ['a string where a boolean belongs', { stats: { containerMetrics: 'yes' } }, 'config file FILE: key "stats.containerMetrics" must be true or false, got "yes"'],
    ['a string where a list belongs', { cni: { binDirs: '/opt/cni/bin' } }, 'config file FILE: key "cni.binDirs" must be a list of strings, got "/opt/cni/bin"'],
    ['a list holding a number', { registry: { insecure: ['a', 1] } }, 'config file FILE: key "registry.insecure" must be a list of strings, got a list'],
    ['null where a string belongs', { pauseImage: null }, 'config file FILE: key "pauseImage" must be a string, got null'],
    ['a number where a string belongs', { socket: 5 }, 'config file FILE: key "socket" must be a string, got number 5'],
    ['a fractional number', { shutdownTimeoutSeconds: 1.5 }, 'config file FILE: key "shutdownTimeoutSeconds" must be a whole number, got number 1.5'],
    ['a map that is a list', { runtimes: [] }, 'config file FILE: key "runtimes" must be a JSON object, got a list'],
    ['a map entry with an empty name', { runtimes: { '': { path: 'runc' } } }, 'config file FILE: key "runtimes" has an entry with an empty name'],
    ['a key named like an Object member', { constructor: 1 }, 'config file FILE: key "constructor" is not known'],
    ['a nested key named like an Object member', { cni: { toString: 'x' } }, 'config file FILE: key "cni.toString" is not known'],
  ];
  for (const [what, body, message] of cases) {
    it(`refuses ${what}, naming the key and the file`, async () => {
      expect(await refusal(body)).toBe(message);
    });
  }

  it('refuses a runtime handler named __proto__ instead of dropping it', async () => {
    expect(await refusal(JSON.parse('{"runtimes":{"__proto__":{"path":"/usr/bin/crun"}}}'))).toBe('config file FILE: key "runtimes" has an entry named "__proto__"');
  });

  it('refuses a default runtime that only an Object member would answer to', async () => {
    expect(await refusal({ defaultRuntime: 'constructor' })).toBe('key "defaultRuntime" names "constructor", which is not in "runtimes"');
  });

  it('requires the streaming TLS certificate and key together', async () => {
    expect(await refusal({ streaming: { tlsCert: '/etc/nexcage/tls.crt' } })).toBe('keys "streaming.tlsCert" and "streaming.tlsKey" must be set together');
    const file = join(dir, 'tls.json');
    await writeFile(file, JSON.stringify({ streaming: { tlsCert: '/etc/nexcage/tls.crt', tlsKey: '/etc/nexcage/tls.key' } }));
    expect((await loadConfig({ file, env: {} })).config.streaming).toMatchObject({ tlsCert: '/etc/nexcage/tls.crt', tlsKey: '/etc/nexcage/tls.key' });
  });

  it('merges a partial section or handler with the defaults, keeping an explicit handler root', async () => {
    const file = join(dir, 'partial.json');
    await writeFile(file, JSON.stringify({ registry: { maxConcurrentDownloads: 8 }, runtimes: { runc: { systemdCgroup: true, root: '/run/runc-k8s' } } }));
    const { config } = await loadConfig({ file, env: {} });
    expect(config.registry).toMatchObject({ maxConcurrentDownloads: 8, noProgressTimeoutSeconds: 300, mirrors: {} });
    expect(config.runtimes.runc).toEqual({ path: 'runc', root: '/run/runc-k8s', systemdCgroup: true });
  });
});
