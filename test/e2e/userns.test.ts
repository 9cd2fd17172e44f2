// User-namespaced pods (hostUsers: false) end to end on real runc 1.1: root inside is a host uid
// of the pod's range, the rootfs and bind mounts are idmapped clones (the shared layer snapshots
// stay as they are for every other pod), the pod's network belongs to its user namespace, bad
// options and overlapping ranges are refused, Status says which handlers can, and a pod outlives a
// kill -9 of the daemon and is removed clean by the next one.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import type { UserNamespace } from '../../src/cri/generated/runtime/v1/UserNamespace.js';
import { ctrConfig, failure, podConfig, pull, pushContainerImages, runCtr, runPod, status, type ContainerImages } from '../support/containers.js';
import { buildImage, busyboxEntries, layer, pushImage } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, processAlive, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
/** A handler whose runtime's `features` lists no user namespace (runc behind a wrapper). */
let wrapper: string;

/** Host ids of this file's pods: well away from the node's users, one 65536 block per pod. */
const BASE = 3_000_000;
let block = 0;
function userns(): UserNamespace {
  const hostId = BASE + 65536 * block++;
  const m = [{ container_id: 0, host_id: hostId, length: 65536 }];
  return { mode: 'POD', uids: m, gids: m };
}

function usernsPod(u: UserNamespace, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  const base = podConfig(t.dir());
  return { ...base, linux: { ...base.linux, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD', userns_options: u } } }, ...extra };
}

async function exec(id: string, cmd: string[]): Promise<{ out: string; err: string; code: number }> {
  const r = await call(d.client.runtime, 'ExecSync', { container_id: id, cmd, timeout: 20 });
  return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exit_code };
}

/** Real and effective uid and gid of a host process (from /proc/<pid>/status). */
function hostIds(pid: number): { uid: number; gid: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: Number(/^Uid:\s+(\d+)/m.exec(s)?.[1]), gid: Number(/^Gid:\s+(\d+)/m.exec(s)?.[1]) };
}

async function containerPid(id: string): Promise<number> {
  const info = JSON.parse((await status(d, id, true)).info.info ?? '{}') as { pid?: number };
  return info.pid ?? 0;
}

async function removePod(podId: string): Promise<void> {
  await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: podId }, 60_000);
  await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: podId }, 60_000);
}

beforeAll(async () => {
  // The harness's temp dir is 0700; runc mounts a user-namespaced pod's rootfs as the pod's root,
  // which must get through every directory above the state dir (Status says so otherwise).
  chmodSync(t.dir().path, 0o711);
  wrapper = t.dir().join('runc-no-userns');
  const features = JSON.stringify({ ociVersionMin: '1.0.0', ociVersionMax: '1.0.2-dev', mountOptions: ['rro'], linux: { namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts'] } });
  writeFileSync(wrapper, `#!/bin/sh\nif [ "$1" = features ]; then echo '${features}'; exit 0; fi\nexec runc "$@"\n`, { mode: 0o755 });
  registry = await TestRegistry.start({ parent: t.dir().path });
  images = await pushContainerImages(registry);
  d = t.track(new Daemon(t.dir(), 'userns', { config: { runtimes: { runc: { path: 'runc' }, plain: { path: wrapper } } } }));
  await d.start();
  await pull(d, images.busybox);
}, 180_000);

afterAll(async () => {
  if (d?.pid !== undefined) {
    for (const p of (await call(d.client.runtime, 'ListPodSandbox', {})).items) await removePod(p.id).catch(() => undefined);
  }
  await d?.stop();
  await registry?.stop();
}, 120_000);

describe('Status', () => {
  it('offers user namespaces on this host, not on a handler whose runtime lacks them, and says why', async () => {
    const st = await call(d.client.runtime, 'Status', { verbose: true });
    const offers = Object.fromEntries(st.runtime_handlers.map((h) => [h.name, h.features?.user_namespaces]));
    expect(offers).toEqual({ '': true, runc: true, plain: false });
    const why = JSON.parse(st.info.userNamespaces ?? '{}') as Record<string, { supported: boolean; reason?: string }>;
    expect(why.runc).toEqual({ supported: true });
    expect(why.plain).toEqual({ supported: false, reason: `${wrapper} does not list the user namespace in its \`features\`` });
  });
});

describe('refusals', () => {
  const cases: [string, UserNamespace, RegExp][] = [
    ['mode CONTAINER', { mode: 'CONTAINER' }, /userns_options\.mode CONTAINER is not supported/],
    ['mode TARGET', { mode: 'TARGET' }, /userns_options\.mode TARGET is not supported/],
    ['two uid mappings', { mode: 'POD', uids: [{ container_id: 0, host_id: 1000, length: 100000 }, { container_id: 0, host_id: 2000, length: 100000 }], gids: [{ container_id: 0, host_id: 1000, length: 100000 }] }, /userns_options\.uids: exactly one mapping/],
    ['container id 0 not mapped', { mode: 'POD', uids: [{ container_id: 1, host_id: 1000, length: 100000 }], gids: [{ container_id: 1, host_id: 1000, length: 100000 }] }, /userns_options\.uids\[0\]: container id 0 must be mapped/],
    ['mappings with mode NODE', { mode: 'NODE', uids: [{ container_id: 0, host_id: 1000, length: 10 }], gids: [] }, /mode NODE .* takes no mappings/],
  ];
  for (const [what, u, msg] of cases) {
    it(`refuses ${what} as INVALID_ARGUMENT naming the field`, async () => {
      const err = await failure(runPod(d, usernsPod(u)));
      expect(err.code).toBe(grpcStatus.INVALID_ARGUMENT);
      expect(err.details).toMatch(msg);
    });
  }

  it('refuses a pod user namespace on a handler without them, and one with the host network', async () => {
    let err = await failure(call(d.client.runtime, 'RunPodSandbox', { config: usernsPod(userns()), runtime_handler: 'plain' }, 60_000));
    expect(err.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(err.details).toContain('namespace_options.userns_options: runtime handler "plain" does not support user namespaces');
    const pod = usernsPod(userns());
    pod.linux!.security_context!.namespace_options!.network = 'NODE';
    err = await failure(runPod(d, pod));
    expect(err.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(err.details).toContain('namespace_options.network NODE cannot be combined with its own user namespace');
  });

  it('refuses a range that overlaps a running pod, and takes it once that pod is stopped', async () => {
    const u = userns();
    const first = await runPod(d, usernsPod(u));
    const shifted = { ...u, uids: [{ container_id: 0, host_id: u.uids![0]!.host_id! + 100, length: 65536 }] };
    const err = await failure(runPod(d, usernsPod(shifted)));
    expect(err.code).toBe(grpcStatus.FAILED_PRECONDITION);
    expect(err.details).toMatch(/host ids .* overlap those of running pod sandbox/);
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: first });
    const second = await runPod(d, usernsPod(shifted));
    await removePod(second);
    await removePod(first);
  });
});

describe('a pod with its own user namespace', () => {
  let u: UserNamespace;
  let hostUid: number;
  let podId: string;
  let pod: PodSandboxConfig;
  let emptyDir: string;

  beforeAll(async () => {
    u = userns();
    hostUid = u.uids![0]!.host_id!;
    pod = usernsPod(u);
    podId = await runPod(d, pod);
    emptyDir = t.dir().join('emptydir');
    mkdirSync(emptyDir, { recursive: true });
  }, 120_000);

  it('runs root inside as the mapped host uid, with the mapping in /proc/self/uid_map', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD', userns_options: u } } } }));
    expect((await exec(id, ['cat', '/proc/self/uid_map', '/proc/self/gid_map'])).out.split('\n').filter((l) => l).map((l) => l.trim().split(/\s+/))).toEqual([
      ['0', String(hostUid), '65536'],
      ['0', String(hostUid), '65536'],
    ]);
    expect((await exec(id, ['id', '-u'])).out).toBe('0\n');
    expect(hostIds(await containerPid(id))).toEqual({ uid: hostUid, gid: hostUid });
    const infra = JSON.parse((await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: podId, verbose: true })).info.info ?? '{}') as { pid?: number };
    expect(hostIds(infra.pid ?? 0)).toEqual({ uid: hostUid, gid: hostUid });
    // The pod's network namespace belongs to its user namespace: sysfs is mounted, root binds port 80.
    const net = await exec(id, ['sh', '-c', 'ls /sys/class/net; (nc -l -p 80 & sleep 0.2; kill $!) && echo bound']);
    expect(net.out).toMatch(/eth0[\s\S]*lo[\s\S]*bound/);
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: podId });
    expect(st.status?.linux?.namespaces?.options?.userns_options).toMatchObject({ mode: 'POD', uids: [{ container_id: 0, host_id: hostUid, length: 65536 }] });
  });

  it('writes to its rootfs and an emptyDir; files owned by host root are root inside', async () => {
    const id = await runCtr(
      d,
      podId,
      pod,
      ctrConfig(images.busybox, ['sleep', '1000'], { mounts: [{ container_path: '/data', host_path: emptyDir }] }),
    );
    const r = await exec(id, ['sh', '-c', 'echo rootfs > /written && echo vol > /data/written && stat -c "%u:%g %n" / /written /data /data/written /etc/hosts /etc/resolv.conf /etc/motd /bin/busybox /dev/shm /dev']);
    expect(r.err).toBe('');
    expect(r.out).toBe(['0:0 /', '0:0 /written', '0:0 /data', '0:0 /data/written', '0:0 /etc/hosts', '0:0 /etc/resolv.conf', '1000:1000 /etc/motd', '0:0 /bin/busybox', '0:0 /dev/shm', '0:0 /dev', ''].join('\n'));
    // On the host: the writable layer holds the pod's root as its host uid; the emptyDir, an
    // idmapped mount, holds the id the container used (as it would for any pod sharing it).
    const upper = join(d.config().rootDir as string, 'containers', id, 'upper');
    expect(statSync(join(upper, 'written')).uid).toBe(hostUid);
    expect(statSync(upper).uid).toBe(hostUid);
    expect(statSync(join(upper, '..', 'work')).uid).toBe(hostUid);
    expect(statSync(join(d.config().stateDir as string, 'sandboxes', podId, 'shm'))).toMatchObject({ uid: hostUid, gid: hostUid });
    expect(statSync(join(emptyDir, 'written'))).toMatchObject({ uid: 0, gid: 0 });
    expect(readFileSync(join(emptyDir, 'written'), 'utf8')).toBe('vol\n');
  });

  it('a user namespace or a mount made inside gains nothing on the host', async () => {
    const id = await runCtr(
      d,
      podId,
      pod,
      ctrConfig(images.busybox, ['sleep', '1000'], { linux: { security_context: { capabilities: { add_capabilities: ['SYS_ADMIN', 'MKNOD'] } } } }),
    );
    // The pod's root has CAP_SYS_ADMIN over its own mount namespace: it may mount there...
    const m = await exec(id, ['sh', '-c', 'mkdir -p /mnt/t && busybox mount -t tmpfs inside /mnt/t && echo mounted']);
    expect(m.out).toBe('mounted\n');
    // ...even make its /proc/sys writable, but a node-wide setting stays the host root's...
    const panic = readFileSync('/proc/sys/kernel/panic', 'utf8');
    const sysctl = await exec(id, ['sh', '-c', 'busybox mount -o remount,rw /proc/sys; echo 77 > /proc/sys/kernel/panic']);
    expect(sysctl.code).not.toBe(0);
    expect(sysctl.err).toMatch(/Permission denied|Operation not permitted/);
    expect(readFileSync('/proc/sys/kernel/panic', 'utf8')).toBe(panic);
    // ...device nodes need the host's CAP_MKNOD...
    const dev = await exec(id, ['busybox', 'mknod', '/tmp/mem', 'c', '1', '1']);
    expect(dev.code).not.toBe(0);
    expect(dev.err).toMatch(/Operation not permitted/);
    // ...and root of a nested user namespace is still the pod's root on the host.
    const nested = await exec(id, ['sh', '-c', 'busybox unshare -U -r sh -c "cat /proc/self/uid_map; id -u"']);
    expect(nested.out.trim().split(/\s+/)).toEqual(['0', '0', '1', '0']);
    await exec(id, ['sh', '-c', 'busybox unshare -U -r busybox sleep 1001 >/dev/null 2>&1 &']);
    const pid = await waitFor('the nested process on the host', () => {
      for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        const cmd = (() => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8');
          } catch {
            return '';
          }
        })();
        if (cmd === 'busybox\0sleep\x001001\0') return Number(p);
      }
      return undefined;
    });
    expect(hostIds(pid)).toEqual({ uid: hostUid, gid: hostUid });
  });

  it('binds read-only sources, also from a nosuid,nodev,noexec tmpfs (as the kubelet\'s token volumes)', async () => {
    const tokens = t.dir().join('tokens');
    mkdirSync(tokens, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=0755', 'tokens', tokens]);
    try {
      writeFileSync(join(tokens, 'token'), 'secret\n', { mode: 0o600 });
      const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { mounts: [{ container_path: '/var/run/secrets/token', host_path: tokens, readonly: true }, { container_path: '/ro', host_path: emptyDir, readonly: true }] }));
      const r = await exec(id, ['sh', '-c', 'cat /var/run/secrets/token/token; stat -c "%u %a" /var/run/secrets/token/token; touch /ro/x 2>&1 || echo ro']);
      expect(r.out).toMatch(/^secret\n0 600\n[\s\S]*ro\n$/);
      await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    } finally {
      execFileSync('umount', [tokens]);
    }
  });

  it('mounts an image volume idmapped and read-only', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { mounts: [{ container_path: '/img', image: { image: images.busybox } }] }));
    const r = await exec(id, ['sh', '-c', 'stat -c "%u:%g %n" /img/bin/busybox /img/etc/motd; touch /img/x 2>&1 || echo ro']);
    expect(r.out).toMatch(/^0:0 \/img\/bin\/busybox\n1000:1000 \/img\/etc\/motd\n[\s\S]*ro\n$/);
  });

  afterAll(async () => {
    if (podId) await removePod(podId);
  }, 60_000);
});

describe('CDI devices', () => {
  it('a CDI device and a renamed CRI device in a user-namespaced pod: nodes bound from the host, mount and env', async () => {
    const kind = `e2e-${Buffer.from(t.dir().tag).toString('hex')}.nexcage.io/null`;
    const specFile = `/var/run/cdi/nexcage-e2e-${t.dir().tag}.json`;
    const shared = t.dir().join('cdi-file');
    writeFileSync(shared, 'from the host\n', { mode: 0o644 });
    mkdirSync('/var/run/cdi', { recursive: true });
    writeFileSync(
      specFile,
      JSON.stringify({ cdiVersion: '0.6.0', kind, devices: [{ name: 'one', containerEdits: { deviceNodes: [{ path: '/dev/cdi-null', hostPath: '/dev/null' }], mounts: [{ hostPath: shared, containerPath: '/cdi/file', options: ['ro', 'bind'] }], env: ['CDI_OK=1'] } }] }),
    );
    try {
      const u = userns();
      const pod = usernsPod(u);
      const podId = await runPod(d, pod);
      const devices = [{ container_path: '/dev/renamed-zero', host_path: '/dev/zero', permissions: 'rw' }];
      const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000'], { CDI_devices: [{ name: `${kind}=one` }], devices }));
      const r = await exec(id, ['sh', '-c', 'echo x > /dev/cdi-null && cat /cdi/file && echo $CDI_OK && head -c 3 /dev/renamed-zero | wc -c']);
      expect(r).toMatchObject({ out: 'from the host\n1\n3\n', code: 0 });
      await removePod(podId);
    } finally {
      rmSync(specFile, { force: true });
    }
  });
});

describe('shared layers', () => {
  it('a pod on the host user namespace sees the same layers with their owners intact', async () => {
    const u = userns();
    const nsPod = usernsPod(u);
    const nsPodId = await runPod(d, nsPod);
    const inNs = await runCtr(d, nsPodId, nsPod, ctrConfig(images.busybox, ['sleep', '1000']));
    const plain = podConfig(t.dir());
    const plainId = await runPod(d, plain);
    const onHost = await runCtr(d, plainId, plain, ctrConfig(images.busybox, ['sleep', '1000']));
    const cmd = ['stat', '-c', '%u:%g %n', '/bin/busybox', '/etc/motd', '/home/tester'];
    const want = '0:0 /bin/busybox\n1000:1000 /etc/motd\n1000:1000 /home/tester\n';
    expect((await exec(inNs, cmd)).out).toBe(want);
    expect((await exec(onHost, cmd)).out).toBe(want);
    expect((await exec(onHost, ['cat', '/proc/self/uid_map'])).out.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
    expect(hostIds(await containerPid(onHost)).uid).toBe(0);
    await removePod(plainId);
    await removePod(nsPodId);
  });
});

describe('pause image', () => {
  it('runs the infra of a user-namespaced pod on idmapped pause image layers', async () => {
    const pause = buildImage({
      layers: [await layer(busyboxEntries()), await layer([{ path: 'pause', content: readFileSync('/usr/bin/catatonit'), mode: 0o755 }, { path: 'proc/', type: 'dir' }, { path: 'dev/', type: 'dir' }, { path: 'sys/', type: 'dir' }])],
      config: { Entrypoint: ['/pause'], Cmd: ['-P'] },
    });
    await pushImage(registry.pushTarget, 'test/userns-pause', ['1'], pause);
    const p = t.track(new Daemon(t.dir(), 'pause', { config: { pauseImage: `${registry.host}/test/userns-pause:1`, registry: { insecure: [registry.host] } } }));
    await p.start();
    const u = userns();
    const { pod_sandbox_id: podId } = await call(p.client.runtime, 'RunPodSandbox', { config: usernsPod(u) }, 60_000);
    const st = await call(p.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: podId, verbose: true });
    const info = JSON.parse(st.info.info ?? '{}') as { pid: number };
    expect(st.status?.state).toBe('SANDBOX_READY');
    expect(hostIds(info.pid).uid).toBe(u.uids![0]!.host_id);
    // Seen from the infra's own namespace: the layers' root-owned files are its root's.
    expect(statSync(`/proc/${info.pid}/root/pause`).uid).toBe(u.uids![0]!.host_id);
    await call(p.client.runtime, 'StopPodSandbox', { pod_sandbox_id: podId }, 60_000);
    await call(p.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: podId }, 60_000);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(join(p.config().stateDir as string, 'sandboxes'));
    await p.stop();
  }, 120_000);
});

describe('daemon crash', () => {
  it('a kill -9 of the daemon leaves the pod running; the next daemon stops and removes it clean', async () => {
    const u = userns();
    const pod = usernsPod(u);
    const podId = await runPod(d, pod);
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    const pid = await containerPid(id);
    await d.stop('SIGKILL');
    expect(processAlive(pid)).toBe(true);
    expect(hostIds(pid).uid).toBe(u.uids![0]!.host_id);
    await d.start();
    expect((await status(d, id)).status?.state).toBe('CONTAINER_RUNNING');
    expect((await exec(id, ['id', '-u'])).out).toBe('0\n');
    await removePod(podId);
    await waitFor('the container process to go', () => !processAlive(pid));
    const bundles = join(d.config().stateDir as string, 'containers');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(bundles);
  }, 120_000);
});
