// The daemon as kubelet, crictl and operators meet it: the socket, the runtime RPCs, health,
// metrics, lifecycle and config errors. Real daemon process, real runc on this machine.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { copyFileSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { Daemon, runCli, useTestDir, waitFor, NODE, MAIN } from './harness.js';
import { spawn } from 'node:child_process';

const t = useTestDir();

function healthCheck(socket: string, service: string): Promise<string> {
  const require = createRequire(import.meta.url);
  const proto = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto/health/v1/health.proto');
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(proto, { keepCase: true, enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (t: string, c: grpc.ChannelCredentials) => grpc.Client } } };
  };
  const client = new def.grpc.health.v1.Health(`unix://${socket}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as unknown as { Check: (r: object, cb: (e: Error | null, r?: { status: string }) => void) => void }).Check({ service }, (e, r) => {
      client.close();
      if (e) reject(e);
      else resolve(r!.status);
    });
  });
}

async function metricValue(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const have = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('the CRI daemon on its unix socket', () => {
  let d: Daemon;
  beforeAll(async () => {
    d = t.track(new Daemon(t.dir(), 'main'));
    await d.start();
  });

  it('creates the socket with mode 0660', () => {
    expect(statSync(d.socket).mode & 0o777).toBe(0o660);
    expect(statSync(d.socket).isSocket()).toBe(true);
  });

  it('answers Version as a CRI v1 runtime named nexcage', async () => {
    const v = await call(d.client.runtime, 'Version', { version: 'v1' });
    expect(v).toEqual({ version: '0.1.0', runtime_name: 'nexcage', runtime_version: '0.1.0', runtime_api_version: 'v1' });
  });

  it('reports RuntimeReady and NetworkReady, and lists the default handler twice (as "" and runc)', async () => {
    const st = await call(d.client.runtime, 'Status', { verbose: false });
    const conds = Object.fromEntries((st.status?.conditions ?? []).map((c) => [c.type, c]));
    expect(conds.RuntimeReady).toMatchObject({ status: true, reason: '', message: '' });
    expect(conds.NetworkReady).toMatchObject({ status: true });
    expect(st.runtime_handlers.map((h) => h.name)).toEqual(['', 'runc']);
    expect(st.info).toEqual({});
  });

  it('returns the effective config in verbose Status', async () => {
    const st = await call(d.client.runtime, 'Status', { verbose: true });
    const cfg = JSON.parse(st.info.config ?? '{}') as Record<string, unknown>;
    expect(cfg.socket).toBe(d.socket);
    expect(cfg.rootDir).toBe(d.config().rootDir);
    expect((cfg.runtimes as Record<string, { root: string }>).runc?.root).toBe(join(d.config().stateDir as string, 'runc'));
  });

  it('reports the cgroup driver in use (cgroupfs on this cgroup v1 host)', async () => {
    const rc = await call(d.client.runtime, 'RuntimeConfig', {});
    const expected = existsSync('/run/systemd/system') && existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'SYSTEMD' : 'CGROUPFS';
    expect(rc.linux?.cgroup_driver).toBe(expected);
  });

  it('records the pod CIDR from UpdateRuntimeConfig and shows it in verbose Status', async () => {
    await call(d.client.runtime, 'UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.3.0/24' } } });
    const st = await call(d.client.runtime, 'Status', { verbose: true });
    expect(JSON.parse(st.info.runtimeConfig ?? '{}')).toMatchObject({ podCIDR: '10.244.3.0/24' });
  });

  it('rejects a malformed pod CIDR with INVALID_ARGUMENT naming it', async () => {
    const err = await call(d.client.runtime, 'UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.0.0.0/99' } } }).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((err as grpc.ServiceError).details).toContain('10.0.0.0/99');
  });

  it('builds every CRI RPC: the last one built, CheckpointContainer, refuses bad input with a clear status', async () => {
    const unknown = (await call(d.client.runtime, 'CheckpointContainer', { container_id: 'x' }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(unknown.code).toBe(grpc.status.NOT_FOUND);
    expect(unknown.details).toContain('container "x" not found');
    const empty = (await call(d.client.runtime, 'CheckpointContainer', {}).catch((e: unknown) => e)) as grpc.ServiceError;
    expect([empty.code, empty.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringContaining('container_id is required')]);
  });

  it('serves grpc.health.v1 as SERVING for the server and both CRI services', async () => {
    expect(await healthCheck(d.socket, '')).toBe('SERVING');
    expect(await healthCheck(d.socket, 'runtime.v1.RuntimeService')).toBe('SERVING');
    expect(await healthCheck(d.socket, 'runtime.v1.ImageService')).toBe('SERVING');
  });

  it('counts the calls just made in /metrics, with durations and build info', async () => {
    const before = await metricValue(d.metricsUrl, 'nexcage_grpc_requests_total', { method: 'Version', code: 'OK' });
    for (let i = 0; i < 3; i++) await call(d.client.runtime, 'Version', {});
    await call(d.client.runtime, 'CheckpointContainer', {}).catch(() => undefined);
    expect(await metricValue(d.metricsUrl, 'nexcage_grpc_requests_total', { method: 'Version', code: 'OK' })).toBe(before + 3);
    expect(await metricValue(d.metricsUrl, 'nexcage_grpc_requests_total', { method: 'CheckpointContainer', code: 'INVALID_ARGUMENT' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(d.metricsUrl, 'nexcage_grpc_request_duration_seconds_count', { method: 'Version' })).toBeGreaterThanOrEqual(before + 3);
    expect(await metricValue(d.metricsUrl, 'nexcage_build_info', { version: '0.1.0' })).toBe(1);
    const text = await (await fetch(`${d.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('serves /healthz and /readyz on loopback', async () => {
    expect(d.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${d.metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${d.metricsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${d.metricsUrl}/nope`)).status).toBe(404);
  });

  it('logs each call at debug with method, code and duration', async () => {
    await call(d.client.runtime, 'Version', {});
    const line = await waitFor('a Version log line', () => d.logs().find((l) => l.msg === 'cri call' && l.method === 'Version'));
    expect(line).toMatchObject({ code: 'OK' });
    expect(typeof line.durationMs).toBe('number');
  });

  it('refuses to start a second daemon on the same socket, and the first keeps serving', async () => {
    const second = t.track(new Daemon(t.dir(), 'second', { config: { socket: d.socket } }));
    await expect(second.start()).rejects.toThrow(/another daemon is serving on/);
    expect((await second.waitExit()).code).toBe(1);
    expect(existsSync(d.socket)).toBe(true);
    expect((await call(d.client.runtime, 'Version', {})).runtime_name).toBe('nexcage');
  });

  it('nexcage version and nexcage health talk to the daemon over the socket', async () => {
    const v = await runCli(['version', '--socket', d.socket]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('RuntimeName: nexcage');
    const h = await runCli(['health', '--socket', d.socket]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('RuntimeReady: true');
  });
});

describe('readiness follows the runtime binary', () => {
  it('flips /readyz to 503 and RuntimeReady to false when the runtime binary goes away', async () => {
    const dir = t.dir();
    const runc = dir.join('runc-copy');
    copyFileSync('/usr/sbin/runc', runc);
    const d = t.track(new Daemon(dir, 'readyz', { config: { runtimes: { runc: { path: runc } } } }));
    await d.start();
    expect((await fetch(`${d.metricsUrl}/readyz`)).status).toBe(200);
    rmSync(runc);
    const res = await fetch(`${d.metricsUrl}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('RuntimeBinaryNotFound');
    const st = await call(d.client.runtime, 'Status', {});
    const rt = st.status?.conditions.find((c) => c.type === 'RuntimeReady');
    expect(rt).toMatchObject({ status: false, reason: 'RuntimeBinaryNotFound' });
    expect(rt?.message).toContain(runc);
    const h = await runCli(['health', '--socket', d.socket]);
    expect(h.code).toBe(1);
    expect(h.stdout).toContain('RuntimeBinaryNotFound');
    await d.stop();
  });
});

describe('idle page reclaim', () => {
  it("hands the daemon's cold file pages back after a quiet spell, once per spell (polls do not start one), again after work", async () => {
    const dir = t.dir();
    // A private copy of Node: pages this test's own Node also maps are shared, and the kernel
    // leaves shared pages alone.
    const node = dir.join('node');
    copyFileSync(NODE, node);
    const d = t.track(new Daemon(dir, 'reclaim', { config: { memoryReclaimIdleSeconds: 1 }, node }));
    await d.start();
    const reclaims = (): Record<string, unknown>[] => d.logs().filter((l) => l.msg === 'cold file pages handed back to the kernel');
    const first = await waitFor('a reclaim after start-up', () => reclaims()[0]);
    expect(first.fileMiBAfter as number).toBeLessThan((first.fileMiBBefore as number) / 2);
    // Two and a half seconds of the kubelet's polls: no new quiet spell begins.
    const end = Date.now() + 2500;
    while (Date.now() < end) {
      await call(d.client.runtime, 'ListContainers', {});
      await call(d.client.runtime, 'ListPodSandbox', {});
    }
    expect(reclaims()).toHaveLength(1);
    await call(d.client.runtime, 'RemoveContainer', { container_id: 'nothing-here' }).catch(() => undefined);
    await waitFor('a reclaim after the work', () => reclaims().length === 2 || undefined);
    expect(d.logs().some((l) => l.msg === 'handing cold file pages back to the kernel failed; not trying again')).toBe(false);
  });
});

describe('heap collection after work', () => {
  it('collects the heap once a quiet spell after start-up and once after later work, never while only polls come; off without gc()', async () => {
    const d = t.track(new Daemon(t.dir(), 'idlegc', { config: { memoryCollectIdleSeconds: 1 }, nodeFlags: ['--expose-gc'] }));
    await d.start();
    const collections = (): Record<string, unknown>[] => d.logs().filter((l) => l.msg === 'heap garbage collected after work');
    const first = await waitFor('a collection after start-up', () => collections()[0]);
    expect(first.heapMiBAfter as number).toBeGreaterThan(0);
    expect(first.heapMiBAfter as number).toBeLessThanOrEqual(first.heapMiBBefore as number);
    const end = Date.now() + 2500;
    while (Date.now() < end) {
      await call(d.client.runtime, 'ListContainers', {});
      await call(d.client.runtime, 'Status', {});
    }
    expect(collections()).toHaveLength(1);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: 'nothing-here' }).catch(() => undefined);
    await waitFor('a collection after the work', () => collections().length === 2 || undefined);
    await d.stop();

    const plain = t.track(new Daemon(t.dir(), 'nogc', { config: { memoryCollectIdleSeconds: 1 } }));
    await plain.start();
    await waitFor('the daemon saying gc() is not there', () => plain.logs().find((l) => String(l.msg).startsWith('gc() is not exposed')));
    await call(plain.client.runtime, 'Status', {});
    expect(plain.logs().some((l) => l.msg === 'heap garbage collected after work')).toBe(false);
  });
});

describe('lifecycle', () => {
  it('exits 0 on SIGTERM and removes its socket', async () => {
    const d = t.track(new Daemon(t.dir(), 'term'));
    await d.start();
    expect(existsSync(d.socket)).toBe(true);
    const exit = await d.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(d.socket)).toBe(false);
    expect(d.logs().some((l) => l.msg === 'stopped')).toBe(true);
  });

  it('exits 0 on SIGINT too', async () => {
    const d = t.track(new Daemon(t.dir(), 'int'));
    await d.start();
    expect(await d.stop('SIGINT')).toEqual({ code: 0, signal: null });
    expect(existsSync(d.socket)).toBe(false);
  });

  it('replaces a stale socket file left by a dead daemon', async () => {
    const d = t.track(new Daemon(t.dir(), 'stale'));
    await d.start();
    await d.stop('SIGKILL');
    expect(existsSync(d.socket)).toBe(true);
    // Nothing answers on it now.
    await expect(
      new Promise((resolve, reject) => connect(d.socket).on('connect', resolve).on('error', reject)),
    ).rejects.toThrow(/ECONNREFUSED/);
    await d.start();
    expect((await call(d.client.runtime, 'Version', {})).runtime_name).toBe('nexcage');
    await d.stop();
  });

  it('exits 1 naming the key and the file when the config file is bad', async () => {
    const dir = t.dir();
    const file = dir.join('bad.json');
    writeFileSync(file, JSON.stringify({ socket: dir.join('bad.sock'), cni: { confDir: '/etc/cni' } }));
    const r = await runCli(['serve', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('key "cni.confDir" is not known');
    expect(r.stderr).toContain(file);
    expect(existsSync(dir.join('bad.sock'))).toBe(false);
  });

  it('exits 1 on a value of the wrong type', async () => {
    const dir = t.dir();
    const file = dir.join('bad2.json');
    writeFileSync(file, JSON.stringify({ metricsAddress: 9101 }));
    const r = await runCli(['serve', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/key "metricsAddress" must be a string/);
  });

  it('nexcage config prints the effective config with env and flags applied', async () => {
    const r = await runCli(['config', '--config', t.dir().join('none.json'), '--log-level', 'warn'], { NEXCAGE_ROOT_DIR: '/srv/nx' });
    expect(r.code).toBe(1); // an explicitly named file must exist
    const ok = await runCli(['config', '--log-level', 'warn'], { NEXCAGE_ROOT_DIR: '/srv/nx' });
    expect(ok.code).toBe(0);
    const cfg = JSON.parse(ok.stdout) as Record<string, unknown>;
    expect(cfg).toMatchObject({ logLevel: 'warn', rootDir: '/srv/nx', socket: '/run/nexcage/sock/nexcage.sock' });
  });

  it('writes human-readable text logs with --log-format text', async () => {
    const dir = t.dir();
    const p = spawn(NODE, [MAIN, 'serve', '--log-format', 'text', '--socket', dir.join('text.sock'), '--root-dir', dir.join('text/root'), '--state-dir', dir.join('text/state'), '--metrics-address', '']);
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    await waitFor('the text log line', () => err.includes('nexcage serving'));
    p.kill('SIGTERM');
    const code = await new Promise((r) => p.on('exit', r));
    expect(code).toBe(0);
    const line = err.split('\n').find((l) => l.includes('nexcage serving')) ?? '';
    expect(line.startsWith('{')).toBe(false);
    expect(line).toMatch(/INFO.*nexcage serving/);
  });

  it('shows help for every command', async () => {
    for (const cmd of ['serve', 'version', 'health', 'config']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: nexcage ${cmd}`);
      expect(r.stdout).toContain('--log-level');
    }
    expect((await runCli(['--help'])).stdout).toContain('commands:');
  });

  it('answers other clients while a call is in flight, then drains on SIGTERM', async () => {
    const d = t.track(new Daemon(t.dir(), 'drain'));
    await d.start();
    const inflight = call(d.client.runtime, 'Status', { verbose: true });
    const p = spawn(NODE, [MAIN, 'version', '--socket', d.socket]);
    await new Promise((r) => p.on('exit', r));
    await inflight;
    expect((await d.stop()).code).toBe(0);
  });
});
