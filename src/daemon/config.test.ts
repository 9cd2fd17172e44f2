import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
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
    expect(config.socket).toBe('/run/nexcage/nexcage.sock');
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
