// Pod sandboxes end to end: the built daemon with real runc, conmon, catatonit and the CNI bridge
// plugins on this machine. Pods live on this file's own bridge/subnet (harness podNetwork) and
// cgroup parent; the harness leak check then finds no netns, mount, process, cgroup or IP left.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { Daemon, podPins, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

let n = 0;
function podConfig(extra: Partial<PodSandboxConfig> = {}, name = `pod${++n}`): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'e2e', attempt: 0 },
    hostname: name,
    log_directory: '',
    labels: { app: 'sbx', name },
    annotations: { 'e2e/note': 'sandbox' },
    linux: { cgroup_parent: t.dir().cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    ...extra,
  };
}

function ping(ip: string): boolean {
  try {
    execFileSync('ping', ['-c', '1', '-W', '2', ip], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function hostLocalIps(d: Daemon): string[] {
  const dir = join(d.config().stateDir as string, 'cni', 'networks', 'nexcage-default');
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function verbose(d: Daemon, id: string): Promise<{ pid: number; netNamespacePath: string; runtimeSpec: { linux: { sysctl?: Record<string, string> } } }> {
  const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
  return JSON.parse(st.info.info ?? '{}') as { pid: number; netNamespacePath: string; runtimeSpec: { linux: { sysctl?: Record<string, string> } } };
}

describe('pod sandboxes', () => {
  let d: Daemon;
  beforeAll(async () => {
    d = t.track(new Daemon(t.dir(), 'main', { config: { runtimes: { runc: { path: 'runc' }, broken: { path: '/bin/false' }, gone: { path: '/nonexistent/runc' } } } }));
    await d.start();
  });

  it('reports NetworkReady from the built-in default network', async () => {
    const st = await call(d.client.runtime, 'Status', {});
    expect(st.status?.conditions.find((c) => c.type === 'NetworkReady')).toMatchObject({ status: true });
  });

  it('runs a pod that is READY with an IP that answers ping from the host, then stops and removes it twice', async () => {
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: podConfig() });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    expect(st.status?.state).toBe('SANDBOX_READY');
    const ip = st.status?.network?.ip ?? '';
    expect(ip).toMatch(new RegExp(`^${t.dir().podNetwork.defaultSubnet.split('.').slice(0, 3).join('\\.')}\\.`));
    expect(ping(ip)).toBe(true);
    const info = JSON.parse(st.info.info ?? '{}') as { pid: number; runtimeSpec: { process: { args: string[]; oomScoreAdj: number } } };
    expect(info.pid).toBeGreaterThan(0);
    expect(info.runtimeSpec.process.args).toEqual(['/pause', '-P']);
    // Never below the daemon's own oom_score_adj (no CAP_SYS_RESOURCE here).
    expect(info.runtimeSpec.process.oomScoreAdj).toBeGreaterThanOrEqual(Number(readFileSync('/proc/self/oom_score_adj', 'utf8')));
    expect(readFileSync(`/proc/${info.pid}/cmdline`, 'utf8')).toContain('/pause');
    expect(readFileSync(join(d.config().rootDir as string, 'sandboxes', id, 'hostname'), 'utf8')).toBe('pod1\n');
    expect(BigInt(st.status?.created_at ?? '0')).toBeGreaterThan(BigInt(Date.now() - 60_000) * 1_000_000n);

    // The pod's own ipc/uts/pid/net namespaces, held by the infra; its /dev/shm is the pod's 64 MiB tmpfs.
    for (const ns of ['ipc', 'uts', 'pid', 'net']) {
      expect(execFileSync('readlink', [`/proc/${info.pid}/ns/${ns}`]).toString()).not.toBe(execFileSync('readlink', [`/proc/self/ns/${ns}`]).toString());
    }
    expect(readFileSync(`/proc/${info.pid}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);
    const shm = readFileSync(`/proc/${info.pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/dev/shm') ?? '';
    expect(shm).toMatch(/size=65536k/);
    const metrics = await (await fetch(`${d.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^nexcage_pod_sandboxes\{state="ready"\} 1$/m);
    for (const step of ['network', 'infra', 'total']) expect(metrics).toMatch(new RegExp(`^nexcage_sandbox_create_duration_seconds_count\\{step="${step}"\\} [1-9]`, 'm'));

    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    const stopped = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id });
    expect(stopped.status?.state).toBe('SANDBOX_NOTREADY');
    expect(existsSync(`/proc/${info.pid}`)).toBe(false);
    expect(hostLocalIps(d)).not.toContain(ip);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    await expect(call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })).rejects.toMatchObject({ code: 5 });
  });

  it('runs a hostNetwork pod with the node hostname and no pod IP', async () => {
    const cfg = podConfig();
    cfg.linux!.security_context!.namespace_options!.network = 'NODE';
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: cfg });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id });
    expect(st.status?.state).toBe('SANDBOX_READY');
    expect(st.status?.network?.ip).toBe('');
    expect(st.status?.linux?.namespaces?.options?.network).toBe('NODE');
    const v = await verbose(d, id);
    expect(v.netNamespacePath).toBe('');
    expect(execFileSync('readlink', [`/proc/${v.pid}/ns/net`]).toString()).toBe(execFileSync('readlink', ['/proc/self/ns/net']).toString());
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('confines the infra process with the pod Localhost seccomp profile; a missing profile file is INVALID_ARGUMENT naming it', async () => {
    const profile = join(t.dir().path, 'pod-seccomp.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    const cfg = podConfig();
    cfg.linux!.security_context!.seccomp = { profile_type: 'Localhost', localhost_ref: profile };
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: cfg });
    const v = (await verbose(d, id)) as unknown as { pid: number; runtimeSpec: { linux: { seccomp?: { defaultAction: string; syscalls?: { names: string[] }[] } } } };
    expect(v.runtimeSpec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(v.runtimeSpec.linux.seccomp?.syscalls?.[0]?.names).toEqual(['mkdirat']);
    // mode 2 = filter: the kernel confines the running infra process
    expect(readFileSync(`/proc/${v.pid}/status`, 'utf8')).toMatch(/^Seccomp:\s+2$/m);
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });

    const missing = podConfig();
    missing.linux!.security_context!.seccomp = { profile_type: 'Localhost', localhost_ref: join(t.dir().path, 'no-such-profile.json') };
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: missing })).rejects.toMatchObject({ code: 3, details: expect.stringContaining('no-such-profile.json') });
    expect((await call(d.client.runtime, 'ListPodSandbox', { filter: { label_selector: { name: missing.metadata!.name! } } })).items).toEqual([]);
  });

  it('maps a hostPort reachable on 127.0.0.1 beside containerPort-only mappings, puts DNS options in resolv.conf and applies sysctls', async () => {
    const hostPort = 30000 + Math.floor(Math.random() * 20000);
    const cfg = podConfig({
      // The kubelet sends every containerPort; those without a hostPort come with host_port 0.
      port_mappings: [
        { protocol: 'TCP', container_port: 9090, host_port: 0, host_ip: '' },
        { protocol: 'TCP', container_port: 8080, host_port: hostPort, host_ip: '' },
        { protocol: 'UDP', container_port: 53, host_port: 0, host_ip: '' },
      ],
      dns_config: { servers: ['10.0.0.10'], searches: ['e2e.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5', 'timeout:2'] },
    });
    cfg.linux!.sysctls = { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' };
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: cfg });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id });
    const v = await verbose(d, id);
    const resolv = readFileSync(join(d.config().rootDir as string, 'sandboxes', id, 'resolv.conf'), 'utf8');
    expect(resolv).toContain('nameserver 10.0.0.10');
    expect(resolv).toContain('search e2e.svc.cluster.local svc.cluster.local');
    expect(resolv).toContain('options ndots:5 timeout:2');
    expect(v.runtimeSpec.linux.sysctl).toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' });
    // net.* sysctls are per network namespace: read them from inside the pod's.
    expect(execFileSync('nsenter', [`--net=${v.netNamespacePath}`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start']).toString().trim()).toBe('0');
    expect(execFileSync('nsenter', [`--target=${v.pid}`, '--ipc', 'cat', '/proc/sys/kernel/shm_rmid_forced']).toString().trim()).toBe('1');
    expect(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim()).not.toBe('0');

    // Something listening on the pod's port 8080: a listener inside the pod's netns.
    const ip = st.status?.network?.ip ?? '';
    const listener = execFileSync('sh', ['-c', `nsenter --net=${v.netNamespacePath} socat TCP-LISTEN:8080,fork,reuseaddr SYSTEM:'echo hi' >/dev/null 2>&1 & echo $!`]).toString().trim();
    try {
      await waitFor('the pod port to listen', () => tcpOpen(hostPort).then((ok) => ok || undefined), 10_000);
      expect(await tcpOpen(hostPort)).toBe(true);
      expect(ip).not.toBe('');
    } finally {
      process.kill(Number(listener), 'SIGKILL');
    }
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    expect(await tcpOpen(hostPort)).toBe(false);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('runs a pod whose only port mappings have host_port 0 (containerPort only); refuses out-of-range ports naming them', async () => {
    const cfg = podConfig({
      port_mappings: [
        { protocol: 'TCP', container_port: 80, host_port: 0, host_ip: '' },
        { protocol: 'SCTP', container_port: 9000, host_port: 0, host_ip: '' },
      ],
    });
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: cfg });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id });
    expect(st.status?.state).toBe('SANDBOX_READY');
    expect(ping(st.status?.network?.ip ?? '')).toBe(true);
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });

    for (const [pm, what] of [
      [{ protocol: 'TCP', container_port: 80, host_port: 70000, host_ip: '' }, /host_port 70000 is out of range/],
      [{ protocol: 'TCP', container_port: 80, host_port: -1, host_ip: '' }, /host_port -1 is out of range/],
      [{ protocol: 'TCP', container_port: 0, host_port: 8080, host_ip: '' }, /container_port 0 is out of range/],
    ] as const) {
      await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig({ port_mappings: [pm] }) })).rejects.toMatchObject({ code: 3, details: expect.stringMatching(what) as unknown });
    }
  });

  it('refuses non-namespaced sysctls and net.* sysctls on host network, naming the key', async () => {
    const cfg = podConfig();
    cfg.linux!.sysctls = { 'kernel.panic': '1' };
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: cfg })).rejects.toMatchObject({ code: 3, details: expect.stringContaining('kernel.panic') });
    const host = podConfig();
    host.linux!.security_context!.namespace_options!.network = 'NODE';
    host.linux!.sysctls = { 'net.ipv4.ip_forward': '1' };
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: host })).rejects.toMatchObject({ code: 3, details: expect.stringContaining('net.ipv4.ip_forward') });
  });

  it('gives two pods different IPs, lists with filters and refuses a duplicate attempt', async () => {
    const a = await call(d.client.runtime, 'RunPodSandbox', { config: podConfig({}, 'twin-a') });
    const b = await call(d.client.runtime, 'RunPodSandbox', { config: podConfig({}, 'twin-b') });
    const ipA = (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: a.pod_sandbox_id })).status?.network?.ip;
    const ipB = (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: b.pod_sandbox_id })).status?.network?.ip;
    expect(ipA).toBeTruthy();
    expect(ipB).toBeTruthy();
    expect(ipA).not.toBe(ipB);
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig({}, 'twin-a') })).rejects.toMatchObject({
      code: 6,
      details: expect.stringContaining(a.pod_sandbox_id),
    });

    const all = await call(d.client.runtime, 'ListPodSandbox', {});
    expect(all.items.map((p) => p.id)).toEqual(expect.arrayContaining([a.pod_sandbox_id, b.pod_sandbox_id]));
    const byLabel = await call(d.client.runtime, 'ListPodSandbox', { filter: { label_selector: { name: 'twin-b' } } });
    expect(byLabel.items.map((p) => p.id)).toEqual([b.pod_sandbox_id]);
    const byPrefix = await call(d.client.runtime, 'ListPodSandbox', { filter: { id: a.pod_sandbox_id.slice(0, 12) } });
    expect(byPrefix.items.map((p) => p.id)).toEqual([a.pod_sandbox_id]);
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: b.pod_sandbox_id });
    const ready = await call(d.client.runtime, 'ListPodSandbox', { filter: { state: { state: 'SANDBOX_READY' }, label_selector: { app: 'sbx' } } });
    expect(ready.items.map((p) => p.id)).toContain(a.pod_sandbox_id);
    expect(ready.items.map((p) => p.id)).not.toContain(b.pod_sandbox_id);
    const notReady = await call(d.client.runtime, 'ListPodSandbox', { filter: { state: { state: 'SANDBOX_NOTREADY' } } });
    expect(notReady.items.map((p) => p.id)).toEqual([b.pod_sandbox_id]);
    expect(notReady.items[0]).toMatchObject({ metadata: { name: 'twin-b', namespace: 'e2e', uid: 'uid-twin-b', attempt: 0 }, runtime_handler: 'runc', labels: { app: 'sbx', name: 'twin-b' } });

    const streamed: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = d.client.runtime.StreamPodSandboxes({ filter: { label_selector: { app: 'sbx' } } });
      s.on('data', (m: { pod_sandboxes: { id: string }[] }) => streamed.push(...m.pod_sandboxes.map((p) => p.id)));
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    expect(streamed.sort()).toEqual([a.pod_sandbox_id, b.pod_sandbox_id].sort());

    for (const id of [a.pod_sandbox_id, b.pod_sandbox_id]) await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
  });

  it('puts pod resources + overhead on the pod cgroup and the infra in its own cgroup under it; UpdatePodSandboxResources changes them', async () => {
    const GiB = 1024 ** 3;
    const cfg = podConfig();
    cfg.linux!.resources = { memory_limit_in_bytes: String(2 * GiB), cpu_quota: '200000', cpu_period: '100000' };
    cfg.linux!.overhead = { memory_limit_in_bytes: String(64 * 1024 ** 2) };
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: cfg });
    const podMem = join('/sys/fs/cgroup/memory', t.dir().cgroupParent);
    expect(Number(readFileSync(join(podMem, 'memory.limit_in_bytes'), 'utf8'))).toBe(2 * GiB + 64 * 1024 ** 2);
    expect(readFileSync(join('/sys/fs/cgroup/cpu', t.dir().cgroupParent, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('200000');
    const v = await verbose(d, id);
    expect(readFileSync(`/proc/${v.pid}/cgroup`, 'utf8')).toContain(`memory:${t.dir().cgroupParent}/${id}`);
    await call(d.client.runtime, 'UpdatePodSandboxResources', { pod_sandbox_id: id, resources: { memory_limit_in_bytes: String(3 * GiB) } });
    expect(Number(readFileSync(join(podMem, 'memory.limit_in_bytes'), 'utf8'))).toBe(3 * GiB + 64 * 1024 ** 2);
    await expect(call(d.client.runtime, 'UpdatePodSandboxResources', { pod_sandbox_id: 'f00d', resources: {} })).rejects.toMatchObject({ code: 5 });
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    expect(existsSync(join(podMem, id))).toBe(false);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('stops and removes a pod whose conmon was killed (no exit file will ever come)', async () => {
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: podConfig() });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    const info = JSON.parse(st.info.info ?? '{}') as { pid: number; monitorPid: number };
    const ip = st.status?.network?.ip ?? '';
    expect(readFileSync(`/proc/${info.monitorPid}/cmdline`, 'utf8')).toContain('conmon');
    process.kill(info.monitorPid, 'SIGKILL');
    const started = Date.now();
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(hostLocalIps(d)).not.toContain(ip);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
  });

  it('rejects an unknown runtime handler naming it', async () => {
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig(), runtime_handler: 'nope' })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('"nope"'),
    });
  });

  it('refuses a handler whose binary is missing, naming it, before touching anything', async () => {
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig(), runtime_handler: 'gone' })).rejects.toMatchObject({
      code: 9,
      details: expect.stringContaining('/nonexistent/runc'),
    });
    expect(readdirSync(join(d.config().rootDir as string, 'sandboxes'))).toEqual([]);
  });

  it('starts pods in parallel: all READY, all with different IPs', async () => {
    const ids = await Promise.all(['par-a', 'par-b', 'par-c', 'par-d', 'par-e'].map(async (name) => (await call(d.client.runtime, 'RunPodSandbox', { config: podConfig({}, name) })).pod_sandbox_id));
    const sts = await Promise.all(ids.map((id) => call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })));
    expect(sts.map((s) => s.status?.state)).toEqual(Array(5).fill('SANDBOX_READY'));
    expect(new Set(sts.map((s) => s.status?.network?.ip)).size).toBe(5);
    await Promise.all(ids.map((id) => call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id })));
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
  });

  it('undoes everything when the runtime fails mid-setup (netns, CNI, IP, dirs)', async () => {
    const before = hostLocalIps(d);
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig(), runtime_handler: 'broken' })).rejects.toMatchObject({ code: 13 });
    expect(hostLocalIps(d)).toEqual(before);
    expect(podPins(d)).toEqual([]);
    expect(readdirSync(join(d.config().rootDir as string, 'sandboxes'))).toEqual([]);
    expect(readdirSync(join(d.config().stateDir as string, 'sandboxes'))).toEqual([]);
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
  });

  it('answers NOT_FOUND for Status of an unknown pod, OK for its Stop and Remove (critest idempotence)', async () => {
    await expect(call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: 'f00d' })).rejects.toMatchObject({ code: 5 });
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: 'f00d' });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: 'f00d' });
    await expect(call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: '' })).rejects.toMatchObject({ code: 3 });
  });
});

describe('pod sandboxes with a bad CNI config', () => {
  it('fails RunPodSandbox, reports NetworkReady false and leaves nothing behind', async () => {
    const dir = t.dir();
    const confDir = dir.join('bad-cni');
    const d = t.track(new Daemon(dir, 'badcni', { config: { cni: { confDirs: [confDir], ...dir.podNetwork } } }));
    execFileSync('mkdir', ['-p', confDir]);
    // A network whose second plugin does not exist: bridge + host-local run, then the chain fails.
    const bad = {
      cniVersion: '1.0.0',
      name: 'bad',
      plugins: [
        { type: 'bridge', bridge: dir.podNetwork.defaultBridge, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: dir.podNetwork.defaultSubnet }]], dataDir: join(dir.path, 'badcni', 'state', 'cni', 'networks') } },
        { type: 'no-such-plugin' },
      ],
    };
    execFileSync('sh', ['-c', `cat > ${confDir}/10-bad.conflist`], { input: JSON.stringify(bad) });
    await d.start();
    const st = await call(d.client.runtime, 'Status', {});
    expect(st.status?.conditions.find((c) => c.type === 'NetworkReady')).toMatchObject({ status: false, reason: 'NetworkPluginNotReady' });
    await expect(call(d.client.runtime, 'RunPodSandbox', { config: podConfig() })).rejects.toMatchObject({ details: expect.stringContaining('no-such-plugin') });
    expect(await (await fetch(`${d.metricsUrl}/metrics`)).text()).toMatch(/^nexcage_cni_errors_total\{command="ADD",plugin="no-such-plugin"\} 1$/m);
    expect(podPins(d)).toEqual([]);
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
    await d.stop();
  });
});

describe('pod sandboxes across a daemon crash', () => {
  it('keeps pods READY with the same IPs after kill -9 and restart; Stop then releases the IP', async () => {
    const d = t.track(new Daemon(t.dir(), 'crash'));
    await d.start();
    const ids: string[] = [];
    for (const name of ['crash-a', 'crash-b']) ids.push((await call(d.client.runtime, 'RunPodSandbox', { config: podConfig({}, name) })).pod_sandbox_id);
    const ipsBefore = await Promise.all(ids.map(async (id) => (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })).status?.network?.ip));
    await d.stop('SIGKILL');
    // The pods' processes are not children of the daemon: they survive it.
    for (const ip of ipsBefore) expect(ping(ip!)).toBe(true);
    await d.start();
    for (const [i, id] of ids.entries()) {
      const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id });
      expect(st.status?.state).toBe('SANDBOX_READY');
      expect(st.status?.network?.ip).toBe(ipsBefore[i]);
    }
    // An infra that dies while the daemon runs turns its pod NOTREADY (exit file watch).
    const v = await verbose(d, ids[1]!);
    process.kill(v.pid, 'SIGKILL');
    await waitFor('the pod to turn NOTREADY', async () => (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: ids[1]! })).status?.state === 'SANDBOX_NOTREADY');

    for (const [i, id] of ids.entries()) {
      await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
      expect(hostLocalIps(d)).not.toContain(ipsBefore[i]);
      await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    }
    await d.stop();
  });

  it('cleans up a pod whose record is gone (crash mid-RunPodSandbox): infra, netns, IP, bundle', async () => {
    const d = t.track(new Daemon(t.dir(), 'orphan'));
    await d.start();
    const id = (await call(d.client.runtime, 'RunPodSandbox', { config: podConfig({}, 'orphan-a') })).pod_sandbox_id;
    const ip = (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })).status?.network?.ip ?? '';
    const { pid } = await verbose(d, id);
    await d.stop('SIGKILL');
    // What a crash between "infra started" and "record persisted" leaves: everything but the record.
    rmSync(join(d.config().rootDir as string, 'sandboxes', id, 'sandbox.json'));
    await d.start();
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
    expect(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('pause')).toBe(false);
    expect(hostLocalIps(d)).not.toContain(ip);
    expect(podPins(d)).toEqual([]);
    expect(readdirSync(join(d.config().stateDir as string, 'sandboxes'))).toEqual([]);
    expect(d.logs().some((l) => l.msg === 'orphan infra container: deleting')).toBe(true);
    // The same pod can be run again (its name is free).
    const again = (await call(d.client.runtime, 'RunPodSandbox', { config: podConfig({}, 'orphan-a') })).pod_sandbox_id;
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: again });
    await d.stop();
  });
});

describe('pod sandboxes on a dual-stack CNI network', () => {
  it('reports the IPv4 address as ip and the IPv6 one in additional_ips; both answer ping', async () => {
    const dir = t.dir();
    const confDir = dir.join('dual-cni');
    const d = t.track(new Daemon(dir, 'dual', { config: { cni: { confDirs: [confDir], ...dir.podNetwork } } }));
    execFileSync('mkdir', ['-p', confDir]);
    // A ULA /64 of this file's own (the VM's eth0 already uses fd00::/64).
    const v6Subnet = `fd6e:7863:${Buffer.from(dir.podNetwork.defaultBridge.slice(-4)).toString('hex').slice(0, 4)}::/64`;
    const conf = {
      cniVersion: '1.0.0',
      name: 'dual',
      plugins: [
        {
          type: 'bridge',
          bridge: dir.podNetwork.defaultBridge,
          isGateway: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: dir.podNetwork.defaultSubnet }], [{ subnet: v6Subnet }]],
            dataDir: join(dir.path, 'dual', 'state', 'cni', 'networks'),
          },
        },
      ],
    };
    execFileSync('sh', ['-c', `cat > ${confDir}/10-dual.conflist`], { input: JSON.stringify(conf) });
    await d.start();
    const { pod_sandbox_id: id } = await call(d.client.runtime, 'RunPodSandbox', { config: podConfig() });
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id });
    const v4 = st.status?.network?.ip ?? '';
    const v6 = st.status?.network?.additional_ips.map((a) => a.ip) ?? [];
    expect(v4).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(v6).toHaveLength(1);
    expect(v6[0]).toMatch(/^fd6e:7863:/);
    expect(ping(v4)).toBe(true);
    // IPv6 duplicate address detection on the new veth can take a moment.
    await waitFor(`ping of ${v6[0]}`, () => {
      try {
        execFileSync('ping', ['-6', '-c', '1', '-W', '1', v6[0] as string], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    }, 15_000);
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    const ipDir = join(dir.path, 'dual', 'state', 'cni', 'networks', 'dual');
    expect(existsSync(ipDir) ? readdirSync(ipDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f) || f.includes(':')) : []).toEqual([]);
    await d.stop();
    execFileSync('ip', ['link', 'del', dir.podNetwork.defaultBridge]);
  });
});
