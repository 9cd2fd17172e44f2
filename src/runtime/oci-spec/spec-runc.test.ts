// The built specs run under the REAL runc on this machine (no mocks): an infra container from
// buildSandboxSpec, then an app container from buildContainerSpec that joins its namespaces.
// Checks what the process actually gets: user and groups, capabilities, seccomp, rlimits,
// oom_score_adj, read-only root, bind mounts, masked paths, the pod hostname and /etc files.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../../lib/fsutil.js';
import { run } from '../../lib/exec.js';
import type { ContainerConfig, HostFacts, SandboxFacts } from '../container/container-config.js';
import { buildContainerSpec, type ContainerSpecInput } from './container-spec.js';
import { resolveDevices } from './device-info.js';
import { capabilitiesFromStatus } from './host-facts.js';
import { buildSandboxSpec } from './sandbox-spec.js';
import type { Spec } from './types.js';

const runc = await findExecutable('runc');
const dir = mkdtempSync(join(tmpdir(), 'nexcage-specrunc-'));
const stateRoot = join(dir, 'runc');
const parent = `/nexcage-spec-test-${process.pid}`;
const infraId = `nexcage-spectest-infra-${process.pid}`;
const host: HostFacts = {
  cgroupDriver: 'cgroupfs',
  cgroupV2: existsSync('/sys/fs/cgroup/cgroup.controllers'),
  daemonOomScoreAdj: 0,
  nofileHardLimit: 20000,
  apparmorEnabled: false,
  selinuxEnabled: false,
  supportsRecursiveReadOnly: true,
  capLastCap: Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')),
  // root here lacks CAP_SYS_RESOURCE: privileged containers must not ask runc for it
  daemonCapabilities: capabilitiesFromStatus(readFileSync('/proc/self/status', 'utf8')),
};

function makeRootfs(): string {
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(root, 'bin/busybox'));
  copyFileSync('/usr/bin/catatonit', join(root, 'bin/catatonit'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  chmodSync(join(root, 'bin/catatonit'), 0o755);
  for (const a of ['sh', 'id', 'cat', 'grep', 'hostname', 'touch', 'unshare', 'echo']) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\napp:x:1000:\nvideo:x:44:app\n');
  return root;
}

async function writeBundle(name: string, spec: Spec): Promise<string> {
  const bundle = join(dir, name);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return bundle;
}

let rootfs = '';
let infraPid = 0;

describe.skipIf(!runc || process.getuid?.() !== 0)('specs under the real runc', () => {
  beforeAll(async () => {
    rootfs = makeRootfs();
    const podDir = join(dir, 'pod');
    mkdirSync(podDir);
    writeFileSync(join(podDir, 'hosts'), '127.0.0.1 localhost\n10.0.0.5 web-0\n');
    writeFileSync(join(podDir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
    writeFileSync(join(podDir, 'hostname'), 'web-0\n');
    const infra = buildSandboxSpec({
      id: infraId,
      name: 'web',
      namespace: 'default',
      uid: 'u1',
      hostname: 'web-0',
      args: ['/bin/catatonit', '-P'],
      rootfsPath: rootfs,
      // the host network keeps the test free of netns set-up; ipc/uts/pid are the pod's own
      namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'POD' },
      cgroupParent: parent,
      securityContext: { seccomp: { profileType: 'RuntimeDefault' } },
      host,
    });
    // host network means host uts, so give the infra its own uts to check the hostname path too
    infra.linux!.namespaces!.push({ type: 'uts' });
    infra.hostname = 'web-0';
    const bundle = await writeBundle('infra', infra);
    const err = join(dir, 'infra.err');
    await run('sh', ['-c', `exec "$0" --root "$1" run -d --bundle "$2" "$3" </dev/null >/dev/null 2>"$4"`, runc!, stateRoot, bundle, infraId, err], {
      timeoutMs: 20_000,
    });
    const state = JSON.parse((await run(runc!, ['--root', stateRoot, 'state', infraId])).stdout) as { pid: number; status: string };
    expect(state.status).toBe('running');
    infraPid = state.pid;
  }, 30_000);

  afterAll(async () => {
    if (runc) {
      const ids = existsSync(stateRoot) ? readdirSync(stateRoot, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
      for (const id of ids) {
        await run(runc, ['--root', stateRoot, 'delete', '-f', id], { allowFailure: true });
      }
      for (const ctrl of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
        const p = join('/sys/fs/cgroup', ctrl, parent);
        if (existsSync(p)) rmdirSync(p);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const sandbox = (): SandboxFacts => ({
    id: infraId,
    name: 'web',
    namespace: 'default',
    uid: 'u1',
    infraPid,
    namespaceOptions: { network: 'NODE', pid: 'POD', ipc: 'POD' },
    cgroupParent: parent,
    hostname: 'web-0',
    hostsPath: join(dir, 'pod/hosts'),
    resolvConfPath: join(dir, 'pod/resolv.conf'),
    hostnamePath: join(dir, 'pod/hostname'),
    privileged: false,
  });

  async function runApp(
    id: string,
    config: ContainerConfig,
    image = { User: 'app' },
    extra: Partial<ContainerSpecInput> = {},
  ): Promise<{ stdout: string; stderr: string; exitCode: number | null }> {
    const { spec } = buildContainerSpec({
      id,
      config,
      image,
      sandbox: sandbox(),
      ...extra,
      host,
      rootfsPath: rootfs,
      userFiles: { passwd: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', group: 'root:x:0:\napp:x:1000:\nvideo:x:44:app\n' },
    });
    // joining the infra's uts (the pod has the host network here, so the builder left it out)
    spec.linux!.namespaces!.push({ type: 'uts', path: `/proc/${infraPid}/ns/uts` });
    const bundle = await writeBundle(id, spec);
    return run(runc!, ['--root', stateRoot, 'run', '--bundle', bundle, id], { allowFailure: true, timeoutMs: 20_000 });
  }

  it('runs as the image user with groups, default caps, clamped limits, RuntimeDefault seccomp, pod files', async () => {
    // the kubelet creates the file (mode 0666) before CreateContainer
    writeFileSync(join(dir, 'termlog'), '');
    chmodSync(join(dir, 'termlog'), 0o666);
    const r = await runApp(`nexcage-spectest-a-${process.pid}`, {
      metadata: { name: 'a', attempt: 0 },
      image: { image: 'x' },
      command: ['/bin/sh', '-c'],
      args: [
        [
          'id -u; id -G',
          'grep CapBnd /proc/self/status',
          'grep Seccomp: /proc/self/status',
          'ulimit -n; ulimit -Hn',
          'cat /proc/self/oom_score_adj',
          'hostname',
          'cat /etc/resolv.conf',
          'touch /rootfs-write 2>/dev/null && echo ROOT-WRITABLE || echo ROOT-READONLY',
          'unshare -n true 2>/dev/null && echo UNSHARE-OK || echo UNSHARE-DENIED',
          'cat /proc/kcore 2>&1 | head -c 0; [ -s /proc/kcore ] && echo KCORE-VISIBLE || echo KCORE-MASKED',
          'echo done > /dev/termination-log && cat /dev/termination-log',
          'echo $$',
        ].join('; '),
      ],
      mounts: [{ containerPath: '/dev/termination-log', hostPath: join(dir, 'termlog') }],
      linux: { resources: { oomScoreAdj: -500 }, securityContext: { readonlyRootfs: true, seccomp: { profileType: 'RuntimeDefault' } } },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('1000');
    expect(lines[1]!.split(' ').sort()).toEqual(['1000', '44']);
    expect(lines[2]).toBe('CapBnd:\t00000000a80425fb'); // the 14 default capabilities
    expect(lines[3]).toBe('Seccomp:\t2');
    expect(lines.slice(4, 6)).toEqual(['1024', '20000']);
    expect(lines[6]).toBe('0'); // -500 clamped to the daemon's own 0
    expect(lines[7]).toBe('web-0');
    expect(lines[8]).toBe('nameserver 10.96.0.10');
    expect(lines[9]).toBe('ROOT-READONLY');
    expect(lines[10]).toBe('UNSHARE-DENIED');
    expect(lines[11]).toBe('KCORE-MASKED');
    expect(lines[12]).toBe('done');
    expect(Number(lines[13])).toBeGreaterThan(1); // pid namespace of the pod: the infra is pid 1
    expect(readFileSync(join(dir, 'termlog'), 'utf8')).toBe('done\n');
  });

  it('run_as_user 0 with SYS_ADMIN added and Unconfined seccomp may unshare; a missing working dir is created', async () => {
    const r = await runApp(`nexcage-spectest-b-${process.pid}`, {
      metadata: { name: 'b', attempt: 0 },
      image: { image: 'x' },
      workingDir: '/made/by/runc',
      command: ['/bin/sh', '-c', 'id -u; unshare -n true && echo UNSHARE-OK; pwd'],
      linux: { securityContext: { runAsUser: 0, capabilities: { addCapabilities: ['SYS_ADMIN'] }, seccomp: { profileType: 'Unconfined' } } },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['0', 'UNSHARE-OK', '/made/by/runc']);
  });

  it('a device is reachable at its container path; privileged gets all caps and a writable /sys', async () => {
    const devices = await resolveDevices([{ hostPath: '/dev/null', containerPath: '/dev/xnull', permissions: 'rw' }]);
    const dev = await runApp(
      `nexcage-spectest-c-${process.pid}`,
      {
        metadata: { name: 'c', attempt: 0 },
        image: { image: 'x' },
        command: ['/bin/sh', '-c', 'echo hi > /dev/xnull && echo DEV-OK'],
        linux: { securityContext: { runAsUser: 0 } },
      },
      { User: 'app' },
      { devices },
    );
    expect(dev.exitCode, dev.stderr).toBe(0);
    expect(dev.stdout.trim()).toBe('DEV-OK');

    const priv = await runApp(
      `nexcage-spectest-d-${process.pid}`,
      {
        metadata: { name: 'd', attempt: 0 },
        image: { image: 'x' },
        command: ['/bin/sh', '-c', 'grep CapBnd /proc/self/status; grep " /sys " /proc/self/mounts | cut -d" " -f4 | cut -d, -f1'],
        linux: { securityContext: { privileged: true, runAsUser: 0 } },
      },
      { User: 'app' },
      { sandbox: { ...sandbox(), privileged: true }, hostDevices: [] },
    );
    expect(priv.exitCode, priv.stderr).toBe(0);
    const ownBounding = readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*(\S+)/m)![1];
    expect(priv.stdout.trim().split('\n')).toEqual([`CapBnd:\t${ownBounding}`, 'rw']);
  });
});
