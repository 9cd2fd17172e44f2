// `nexcage doctor` against a node laid out in a temp dir: a healthy one (everything OK, exit 0),
// then each problem injected on its own, with the verdict and fix it must produce.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig, type Config } from '../daemon/config-schema.js';
import { CHECKS, exitCode, formatText, runDoctor, worst } from './doctor.js';
import type { CheckResult, CommandOutput, DoctorContext, DoctorHost } from './doctor/check.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const dir = mkdtempSync('/tmp/nexcage-doctor-');
let server: Server;
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function write(path: string, text: string, mode = 0o644): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

const V2_MOUNTINFO = '30 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';
const V1_MOUNTINFO = [
  '25 1 0:21 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755',
  ...['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'].map((c, i) => `${40 + i} 25 0:${40 + i} / /sys/fs/cgroup/${c} rw - cgroup cgroup rw,${c}`),
  '60 25 0:60 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
].join('\n');

interface Node {
  root: string;
  bin: string;
  config: Config;
  host: DoctorHost;
  /** What the fake registry answers, by URL prefix. */
  registry: Map<string, { status: number; date?: string } | Error>;
  disk: { bsize: number; blocks: number; bavail: number; files: number; ffree: number };
}

/** A healthy node: cgroup v2 with every controller, systemd, overlay, seccomp, CNI, a live socket. */
function healthyNode(name: string): Node {
  const root = join(dir, name);
  const bin = join(root, 'usr/bin');
  write(join(root, 'proc/self/mountinfo'), V2_MOUNTINFO);
  write(join(root, 'sys/fs/cgroup/cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  write(join(root, 'proc/filesystems'), 'nodev\tsysfs\nnodev\ttmpfs\nnodev\toverlay\n');
  write(join(root, 'proc/self/status'), 'Name:\tnode\nSeccomp:\t0\nSeccomp_filters:\t0\n');
  write(join(root, 'proc/sys/kernel/seccomp/actions_avail'), 'kill_process kill_thread trap errno user_notif trace log allow\n');
  mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
  write(join(root, 'etc/group'), 'root:x:0:\nnexcage:x:2375:\n');
  const features = JSON.stringify({ ociVersionMin: '1.0.0', mountOptions: ['rro'], linux: { mountExtensions: { idmap: { enabled: true } } } });
  write(join(bin, 'runc'), `#!/bin/sh\nif [ "$1" = features ]; then echo '${features}'; exit 0; fi\necho "runc version 1.2.5\\ncommit: v1.2.5\\nspec: 1.2.0\\ngo: go1.22\\nlibseccomp: 2.5.5"\n`, 0o755);
  write(join(bin, 'conmon'), '#!/bin/sh\necho "conmon version 2.1.12\\ncommit: unknown"\n', 0o755);
  write(join(bin, 'criu'), '#!/bin/sh\necho "Version: 3.19"\n', 0o755);
  for (const p of ['bridge', 'host-local', 'portmap', 'loopback', 'calico', 'calico-ipam']) write(join(root, 'opt/cni/bin', p), '#!/bin/sh\n', 0o755);
  write(join(root, 'etc/cni/net.d/10-calico.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'k8s-pod-network', plugins: [{ type: 'calico', ipam: { type: 'calico-ipam' } }, { type: 'portmap', capabilities: { portMappings: true } }] }));
  const socket = join(root, 'run/nexcage/sock/nexcage.sock');
  write(join(root, 'var/lib/kubelet/config.yaml'), `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\ncontainerRuntimeEndpoint: unix://${socket}\n`);
  const config: Config = {
    ...defaultConfig(),
    socket,
    rootDir: join(root, 'var/lib/nexcage'),
    cgroupDriver: 'auto',
    runtimes: { runc: { path: 'runc', root: '', systemdCgroup: false } },
    cni: { ...defaultConfig().cni, confDirs: [join(root, 'etc/cni/net.d')], binDirs: [join(root, 'opt/cni/bin')], defaultNetwork: false },
    registry: { ...defaultConfig().registry, mirrors: { 'docker.io': ['http://127.0.0.1:5000'] } },
  };
  const node: Node = {
    root,
    bin,
    config,
    registry: new Map([
      ['http://127.0.0.1:5000/v2/', { status: 200, date: new Date(NOW - 2000).toUTCString() }],
      ['https://registry.example/v2/', { status: 401, date: new Date(NOW).toUTCString() }],
    ]),
    disk: { bsize: 4096, blocks: 100 * 262144, bavail: 60 * 262144, files: 6_000_000, ffree: 5_000_000 },
    host: undefined as unknown as DoctorHost,
  };
  node.host = {
    root,
    path: [bin],
    kernelRelease: '6.1.0-18-amd64',
    kubeletConfig: join(root, 'var/lib/kubelet/config.yaml'),
    run: async (command, args): Promise<CommandOutput> => {
      const r = spawnSync(command, args, { encoding: 'utf8' });
      return { exitCode: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    probe: async (url) => {
      const a = node.registry.get(url);
      if (!a) throw new Error(`fetch failed`, { cause: new Error(`getaddrinfo ENOTFOUND ${new URL(url).hostname}`) });
      if (a instanceof Error) throw a;
      return { status: a.status, date: a.date };
    },
    now: () => NOW,
    statfs: async () => node.disk,
  };
  return node;
}

const ctxOf = (n: Node, clockRegistry = 'https://registry.example'): DoctorContext => ({ config: n.config, host: n.host, clockRegistry });
const byCheck = (results: CheckResult[], check: string): CheckResult => {
  const r = results.find((x) => x.check === check);
  if (!r) throw new Error(`no result for ${check}: ${results.map((x) => x.check).join(', ')}`);
  return r;
};

describe('nexcage doctor', () => {
  let n: Node;
  beforeAll(async () => {
    // The daemon's socket stand-in: a listening unix socket, 0660, in a 0755 dir of its own.
    const probe = healthyNode('socket-owner');
    mkdirSync(join(probe.config.socket, '..'), { recursive: true });
    server = createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(probe.config.socket, r));
    chmodSync(probe.config.socket, 0o660);
  });
  beforeEach(() => {
    n = healthyNode('socket-owner');
  });
  afterEach(() => {
    chmodSync(n.config.socket, 0o660);
  });

  it('finds nothing wrong on a healthy node: every check OK, exit 0', async () => {
    const results = await runDoctor(ctxOf(n));
    expect(results.filter((r) => r.level !== 'ok')).toEqual([]);
    expect(results.map((r) => r.check)).toEqual([
      'runtime:runc', 'conmon', 'criu', 'cgroups', 'cgroup-controllers', 'cgroup-driver', 'overlayfs', 'idmapped-mounts',
      'seccomp', 'apparmor', 'selinux', 'cni', 'socket', 'kubelet-endpoint', 'disk-space', 'inodes', 'registry-mirror', 'clock',
    ]);
    expect(exitCode(results)).toBe(0);
    expect(byCheck(results, 'runtime:runc').message).toContain('version 1.2.5');
    expect(byCheck(results, 'cgroup-driver').message).toContain('systemd driver');
    expect(byCheck(results, 'cni').message).toContain('10-calico.conflist (network "k8s-pod-network": calico, portmap)');
    expect(byCheck(results, 'socket').message).toMatch(/mode 660, uid 0, gid \d+, daemon answering/);
    expect(byCheck(results, 'clock').message).toContain('2 s ahead of http://127.0.0.1:5000');
    expect(formatText(results)).toMatch(/^OK {4}runtime:runc/);
    expect(formatText(results)).toMatch(/18 OK, 0 WARN, 0 FAIL\n$/);
  });

  it('fails without the default runtime or conmon, warns on old versions, and a missing extra handler only warns', async () => {
    n.config.runtimes.kata = { path: 'kata-runtime', root: '', systemdCgroup: false };
    rmSync(join(n.bin, 'conmon'));
    write(join(n.bin, 'criu'), '#!/bin/sh\necho "Version: 3.11"\n', 0o755);
    let r = await runDoctor(ctxOf(n), CHECKS.slice(0, 3));
    expect(byCheck(r, 'runtime:kata')).toMatchObject({ level: 'warn', message: expect.stringContaining('"kata-runtime" not found') });
    expect(byCheck(r, 'conmon')).toMatchObject({ level: 'fail', fix: 'apt-get install conmon' });
    expect(byCheck(r, 'criu')).toMatchObject({ level: 'warn', message: expect.stringContaining('criu 3.11') });
    write(join(n.bin, 'runc'), '#!/bin/sh\necho "runc version 1.0.3"\n', 0o755);
    expect(byCheck(await runDoctor(ctxOf(n), CHECKS.slice(0, 1)), 'runtime:runc')).toMatchObject({ level: 'warn', fix: 'install runc 1.1.0 or newer' });
    rmSync(join(n.bin, 'runc'));
    rmSync(join(n.bin, 'criu'));
    r = await runDoctor(ctxOf(n), CHECKS.slice(0, 3));
    expect(byCheck(r, 'runtime:runc')).toMatchObject({ level: 'fail', message: expect.stringContaining('the default handler: no pod can start'), fix: 'apt-get install runc' });
    expect(byCheck(r, 'criu')).toMatchObject({ level: 'warn', message: expect.stringContaining('CheckpointContainer'), fix: 'install CRIU 3.15 or newer' });
    expect(exitCode(r)).toBe(2);
  });

  it('reports a cgroup v1 hybrid node without hugetlb and without systemd as this kind of machine is', async () => {
    write(join(n.root, 'proc/self/mountinfo'), V1_MOUNTINFO);
    rmSync(join(n.root, 'sys/fs/cgroup/cgroup.controllers'));
    rmSync(join(n.root, 'run/systemd'), { recursive: true });
    write(n.host.kubeletConfig, 'kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n');
    const r = await runDoctor(ctxOf(n), [CHECKS[3]!]);
    expect(byCheck(r, 'cgroups')).toMatchObject({ level: 'warn', message: expect.stringContaining('cgroup v1 (hybrid') });
    expect(byCheck(r, 'cgroup-controllers')).toMatchObject({ level: 'warn', message: expect.stringContaining('missing: hugetlb'), fix: expect.stringContaining('mount -t cgroup -o hugetlb') });
    expect(byCheck(r, 'cgroup-driver')).toMatchObject({ level: 'ok', message: expect.stringContaining('cgroupfs driver (cgroupDriver "auto": systemd is not PID 1), as the kubelet') });
  });

  it('fails when a controller runc needs is missing, or when the drivers disagree', async () => {
    write(join(n.root, 'sys/fs/cgroup/cgroup.controllers'), 'cpu io pids\n');
    write(n.host.kubeletConfig, 'kind: KubeletConfiguration\n');
    let r = await runDoctor(ctxOf(n), [CHECKS[3]!]);
    expect(byCheck(r, 'cgroup-controllers')).toMatchObject({ level: 'fail', message: 'missing controllers runc needs: memory' });
    expect(byCheck(r, 'cgroup-driver')).toMatchObject({
      level: 'fail',
      message: expect.stringContaining('uses cgroupfs (its default): pods would fail to start'),
      fix: expect.stringContaining('set cgroupDriver: systemd in'),
    });
    n.config.cgroupDriver = 'systemd';
    rmSync(join(n.root, 'run/systemd'), { recursive: true });
    r = await runDoctor(ctxOf(n), [CHECKS[3]!]);
    expect(byCheck(r, 'cgroup-driver')).toMatchObject({ level: 'fail', message: expect.stringContaining('systemd is not PID 1'), fix: 'set "cgroupDriver": "cgroupfs" in /etc/nexcage/config.json' });
    write(n.host.kubeletConfig, 'cgroupDriver: [');
    n.config.cgroupDriver = 'cgroupfs';
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[3]!]), 'cgroup-driver')).toMatchObject({ level: 'warn', message: expect.stringContaining('not valid YAML') });
  });

  it('checks overlayfs and idmapped mounts against the kernel and the runtime', async () => {
    write(join(n.root, 'proc/filesystems'), 'nodev\tsysfs\n');
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[4]!]), 'overlayfs')).toMatchObject({ level: 'fail', fix: expect.stringContaining('CONFIG_OVERLAY_FS') });
    mkdirSync(join(n.root, 'lib/modules/6.1.0-18-amd64/kernel/fs/overlayfs'), { recursive: true });
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[4]!]), 'overlayfs')).toMatchObject({ level: 'warn', fix: expect.stringContaining('modprobe overlay') });
    write(join(n.bin, 'runc'), '#!/bin/sh\nif [ "$1" = features ]; then echo \'{"mountOptions":["rro"]}\'; exit 0; fi\necho "runc version 1.1.5\\nlibseccomp: 2.5.4"\n', 0o755);
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[5]!]), 'idmapped-mounts')).toMatchObject({ level: 'warn', message: expect.stringContaining('does not create user namespaces (none in its features)') });
    n.host.kernelRelease = '5.10.0-28-amd64';
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[5]!]), 'idmapped-mounts')).toMatchObject({ level: 'warn', message: expect.stringContaining('cannot idmap overlayfs (5.19+)') });
  });

  it('requires seccomp in the kernel and in runc; reports AppArmor and SELinux as found', async () => {
    write(join(n.bin, 'runc'), '#!/bin/sh\necho "runc version 1.1.5\\ncommit: x\\nspec: 1.0.2"\n', 0o755);
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[6]!]), 'seccomp')).toMatchObject({ level: 'fail', message: expect.stringContaining('built without libseccomp') });
    rmSync(join(n.root, 'proc/sys/kernel/seccomp'), { recursive: true });
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[6]!]), 'seccomp')).toMatchObject({ level: 'fail', fix: expect.stringContaining('CONFIG_SECCOMP_FILTER') });
    write(join(n.root, 'sys/module/apparmor/parameters/enabled'), 'Y\n');
    write(join(n.root, 'sys/fs/selinux/enforce'), '1');
    n.host.path = [n.bin, join(n.root, 'sbin')];
    let r = await runDoctor({ ...ctxOf(n), host: { ...n.host, path: [join(n.root, 'none')] } }, [CHECKS[7]!]);
    // apparmor_parser is also searched in /sbin and /usr/sbin of the real host: only assert when absent there.
    const hostHasParser = ['/sbin/apparmor_parser', '/usr/sbin/apparmor_parser'].some((p) => existsSync(p));
    if (!hostHasParser) expect(byCheck(r, 'apparmor')).toMatchObject({ level: 'warn', fix: 'apt-get install apparmor' });
    write(join(n.root, 'sbin/apparmor_parser'), '#!/bin/sh\n', 0o755);
    r = await runDoctor(ctxOf(n), [CHECKS[7]!]);
    expect(byCheck(r, 'apparmor')).toMatchObject({ level: 'ok', message: expect.stringContaining('enabled') });
    expect(byCheck(r, 'selinux')).toMatchObject({ level: 'ok', message: 'enforcing' });
  });

  it('judges CNI like NetworkReady: waiting for the cluster network, a broken config, a missing plugin', async () => {
    rmSync(join(n.root, 'etc/cni/net.d/10-calico.conflist'));
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[8]!]), 'cni')).toMatchObject({ level: 'warn', message: expect.stringContaining('stays NotReady'), fix: expect.stringContaining("install the cluster's CNI") });
    n.config.cni.defaultNetwork = true;
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[8]!]), 'cni')).toMatchObject({ level: 'ok', message: expect.stringContaining('built-in bridge network') });
    write(join(n.root, 'etc/cni/net.d/05-broken.conf'), '{');
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[8]!]), 'cni')).toMatchObject({ level: 'fail', message: expect.stringContaining('05-broken.conf: not valid JSON') });
    write(join(n.root, 'etc/cni/net.d/05-broken.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'cilium-cni' }));
    expect(byCheck(await runDoctor(ctxOf(n), [CHECKS[8]!]), 'cni')).toMatchObject({ level: 'fail', message: expect.stringContaining('missing from'), fix: expect.stringContaining('containernetworking-plugins') });
  });

  it('checks the socket: missing, not a socket, too open, wrong group, nobody answering', async () => {
    const socketCheck = CHECKS[9]!;
    chmodSync(n.config.socket, 0o666);
    expect(byCheck(await runDoctor(ctxOf(n), [socketCheck]), 'socket')).toMatchObject({ level: 'fail', message: expect.stringContaining('every local user can control the runtime') });
    chmodSync(n.config.socket, 0o660);
    n.config.socketGroup = 'nexcage';
    expect(byCheck(await runDoctor(ctxOf(n), [socketCheck]), 'socket')).toMatchObject({ level: 'warn', message: expect.stringContaining('not socketGroup nexcage (2375)') });
    n.config.socketGroup = 'nosuchgroup';
    expect(byCheck(await runDoctor(ctxOf(n), [socketCheck]), 'socket')).toMatchObject({ level: 'fail', message: 'socketGroup "nosuchgroup" does not exist' });
    n.config.socketGroup = '';
    n.config.socket = join(n.root, 'run/nexcage/sock/other.sock');
    expect(byCheck(await runDoctor(ctxOf(n), [socketCheck]), 'socket')).toMatchObject({ level: 'warn', message: expect.stringContaining('the daemon is not running') });
    write(n.config.socket, 'not a socket', 0o660);
    expect(byCheck(await runDoctor(ctxOf(n), [socketCheck]), 'socket')).toMatchObject({ level: 'fail', message: expect.stringContaining('is not a socket') });
    rmSync(n.config.socket);
    // A socket left by a process that is gone: the file exists, nothing listens (exit skips the unlink).
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(n.config.socket)}, () => process.exit(0))`]);
    chmodSync(n.config.socket, 0o660);
    const r = byCheck(await runDoctor(ctxOf(n), [socketCheck]), 'socket');
    expect(r).toMatchObject({ level: 'warn', message: expect.stringContaining('exists but nothing answers'), fix: 'systemctl restart nexcage' });
  });

  it('checks the kubelet runtime endpoint', async () => {
    write(n.host.kubeletConfig, 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n');
    const check = CHECKS[10]!;
    expect(byCheck(await runDoctor(ctxOf(n), [check]), 'kubelet-endpoint')).toMatchObject({ level: 'fail', fix: expect.stringContaining(`--cri-socket unix://${n.config.socket}`) });
    write(n.host.kubeletConfig, 'kind: KubeletConfiguration\n');
    expect(byCheck(await runDoctor(ctxOf(n), [check]), 'kubelet-endpoint')).toMatchObject({ level: 'warn', message: expect.stringContaining("default is containerd's socket") });
    write(n.host.kubeletConfig, `containerRuntimeEndpoint: ${n.config.socket}\n`);
    expect(byCheck(await runDoctor(ctxOf(n), [check]), 'kubelet-endpoint').level).toBe('ok');
  });

  it('warns and fails on low free space and inodes under the store', async () => {
    const check = CHECKS[11]!;
    n.disk = { bsize: 4096, blocks: 100 * 262144, bavail: 10 * 262144, files: 1000, ffree: 80 };
    let r = await runDoctor(ctxOf(n), [check]);
    expect(byCheck(r, 'disk-space')).toMatchObject({ level: 'warn', message: expect.stringContaining('10.0 GiB of 100.0 GiB free (10%)') });
    expect(byCheck(r, 'inodes')).toMatchObject({ level: 'warn', message: expect.stringContaining('80 of 1000 inodes free (8%)') });
    n.disk = { bsize: 4096, blocks: 100 * 262144, bavail: 262144 / 2, files: 1000, ffree: 10 };
    r = await runDoctor(ctxOf(n), [check]);
    expect(byCheck(r, 'disk-space').level).toBe('fail');
    expect(byCheck(r, 'inodes').level).toBe('fail');
    n.disk = { ...n.disk, bavail: 60 * 262144, files: 0, ffree: 0 };
    expect(byCheck(await runDoctor(ctxOf(n), [check]), 'inodes')).toMatchObject({ level: 'ok', message: expect.stringContaining('dynamically') });
  });

  it('checks mirrors and the clock against a registry Date header', async () => {
    const check = CHECKS[12]!;
    n.config.registry.mirrors = { 'docker.io': ['http://127.0.0.1:5000', 'mirror.invalid'], 'quay.io': ['http://127.0.0.1:5001'] };
    n.registry.set('http://127.0.0.1:5001/v2/', { status: 404, date: new Date(NOW).toUTCString() });
    let r = await runDoctor(ctxOf(n), [check]);
    expect(r.filter((x) => x.check === 'registry-mirror').map((x) => [x.level, x.message])).toEqual([
      ['ok', 'mirror http://127.0.0.1:5000 of docker.io answers (HTTP 200)'],
      ['warn', 'mirror https://mirror.invalid of docker.io unreachable: getaddrinfo ENOTFOUND mirror.invalid'],
      ['warn', 'mirror http://127.0.0.1:5001 of quay.io answers /v2/ with HTTP 404: not a registry API'],
    ]);
    n.registry.set('http://127.0.0.1:5000/v2/', { status: 200, date: new Date(NOW - 90_000).toUTCString() });
    expect(byCheck(await runDoctor(ctxOf(n), [check]), 'clock')).toMatchObject({ level: 'warn', message: 'the clock is 90 s ahead of http://127.0.0.1:5000' });
    n.registry.set('http://127.0.0.1:5000/v2/', { status: 200, date: new Date(NOW + 3_600_000).toUTCString() });
    expect(byCheck(await runDoctor(ctxOf(n), [check]), 'clock')).toMatchObject({ level: 'fail', message: expect.stringContaining('3600 s behind') });
    n.config.registry.mirrors = {};
    r = await runDoctor(ctxOf(n), [check]);
    expect(byCheck(r, 'registry-mirror').message).toBe('no registry mirrors configured');
    expect(byCheck(r, 'clock')).toMatchObject({ level: 'ok', message: expect.stringContaining('https://registry.example') });
    r = await runDoctor(ctxOf(n, 'https://offline.invalid'), [check]);
    expect(byCheck(r, 'clock')).toMatchObject({ level: 'warn', message: expect.stringContaining('clock skew not checked') });
  });

  it('turns a check that throws into a FAIL, and ranks results for the exit code', async () => {
    const boom = async (): Promise<CheckResult[]> => {
      throw new Error('boom');
    };
    const r = await runDoctor(ctxOf(n), [boom]);
    expect(r).toEqual([{ check: 'boom', level: 'fail', message: 'the check itself failed: boom', fix: 'report this as a nexcage bug' }]);
    const warnOnly: CheckResult[] = [{ check: 'a', level: 'ok', message: '', fix: '' }, { check: 'b', level: 'warn', message: '', fix: 'x' }];
    expect([worst(warnOnly), exitCode(warnOnly), exitCode([]), exitCode([...warnOnly, ...r])]).toEqual(['warn', 1, 0, 2]);
  });
});
