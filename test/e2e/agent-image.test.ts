// The image `make image` builds, run on nexcage itself as the chart would run it: pushed to a
// registry with `make push-image`'s script, pulled by the daemon, and run in a pod laid out exactly
// as the rendered DaemonSet (pod and container security context, the socket-only hostPath mount,
// env, args, resources), with what the kubelet adds (NODE_NAME from the downward API, the service
// account token mount, KUBERNETES_SERVICE_HOST/PORT). The agent inside must label the Node and
// publish the RuntimeClass on the stand-in API server (over TLS, as in a cluster) and pre-pull an
// image through the mounted socket, and relay the daemon's metrics from its metrics socket, as a
// non-root user whose only key to the sockets is its group.
//
// The image is built once (build/image, reused while scripts/app-hash.sh says it holds the current
// dist/) by scripts/build-deb.sh (without lintian) and scripts/build-image.sh: a few minutes the
// first time, seconds after. NEXCAGE_E2E_IMAGE=skip skips this file.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { renderChart } from '../support/helm-subset.js';
import { pushTestImages } from '../support/image-builder.js';
import { KubeApiStandIn } from '../support/kube-api-standin.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, REPO, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
const SKIP = process.env.NEXCAGE_E2E_IMAGE === 'skip';
const IMAGE_DIR = join(REPO, 'build/image');

/** Builds build/image from the current dist/ unless it already holds exactly that code. */
function ensureImage(): void {
  const want = execFileSync(join(REPO, 'scripts/app-hash.sh'), ['dist', '--reachable'], { cwd: REPO, encoding: 'utf8' }).trim();
  const hashFile = join(IMAGE_DIR, 'app-hash');
  if (existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === want) return;
  const env = { ...process.env, NEXCAGE_DEB_LINTIAN: '0' };
  execFileSync(join(REPO, 'scripts/build-deb.sh'), { cwd: REPO, env, stdio: 'pipe', maxBuffer: 256 << 20 });
  execFileSync(join(REPO, 'scripts/build-image.sh'), { cwd: REPO, env, stdio: 'pipe', maxBuffer: 256 << 20 });
  // (dist/ may have been rebuilt meanwhile by someone else's build: the image holds the dist/ of
  // the moment the package was made, which is what this file then tests.)
  expect(existsSync(hashFile)).toBe(true);
}

interface RenderedPod {
  securityContext: { runAsUser: number; runAsGroup: number; supplementalGroups: number[]; seccompProfile: { type: string }; runAsNonRoot: boolean };
  containers: {
    image: string;
    args: string[];
    env: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
    ports: { containerPort: number; protocol: string }[];
    resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
    securityContext: { privileged: boolean; allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
    volumeMounts: { name: string; mountPath: string; readOnly: boolean }[];
  }[];
  volumes: { name: string; hostPath: { path: string; type: string } }[];
}

const MI = 1024 * 1024;
const quantity = (q: string): number => (q.endsWith('Mi') ? Number(q.slice(0, -2)) * MI : q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));

function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

describe.skipIf(SKIP)('the nexcage image running the agent on nexcage, laid out as the chart says', () => {
  let registry: TestRegistry;
  let d: Daemon;
  let api: KubeApiStandIn;
  let pod: RenderedPod;
  let podId = '';
  let containerId = '';
  let prePull = '';
  let imageRef = '';

  beforeAll(async () => {
    ensureImage();
    const dir = t.dir();
    registry = await TestRegistry.start({ parent: dir.path });
    execFileSync(join(REPO, 'scripts/push-image.sh'), { cwd: REPO, env: { ...process.env, REGISTRY: registry.host, TLS_VERIFY: 'false' }, stdio: 'pipe' });
    const images = await pushTestImages(registry.pushTarget);
    void images;
    prePull = `${registry.host}/test/busybox:latest`;
    // The daemon as the package runs it: its socket alone in a directory of its own.
    d = t.track(new Daemon(dir, 'node', { config: { socket: dir.join('node', 'sock', 'nexcage.sock'), metricsSocket: dir.join('node', 'sock', 'metrics.sock') } }));
    await d.start();
    const rendered = renderChart(join(REPO, 'deploy/helm/nexcage'), {
      namespace: 'nexcage-system',
      values: [{ image: { repository: `${registry.host}/nexcage/nexcage` }, prePullImages: [prePull], socketDir: dirname(d.socket) }],
    });
    const ds = rendered.objects.find((o) => o.kind === 'DaemonSet') as { spec: { template: { spec: RenderedPod } } };
    pod = ds.spec.template.spec;
  }, 900_000);

  afterAll(async () => {
    if (containerId) {
      await call(d.client.runtime, 'StopContainer', { container_id: containerId, timeout: 10 });
      await call(d.client.runtime, 'RemoveContainer', { container_id: containerId });
    }
    if (podId) {
      await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: podId });
      await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: podId });
    }
    await api?.stop();
    await d?.stop();
    await registry?.stop();
  });

  it('pulls the pushed image and starts the agent as the DaemonSet describes it', async () => {
    const dir = t.dir();
    const c = pod.containers[0]!;
    const sc = pod.securityContext;
    expect(sc).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    // The pod: the kubelet maps the pod security context and the container ports onto the sandbox.
    const namespaces = { network: 'POD' as const, pid: 'CONTAINER' as const, ipc: 'POD' as const };
    const sandbox: PodSandboxConfig = {
      metadata: { name: 'nexcage-agent-x7k2p', uid: `uid-agent-${dir.tag}`, namespace: 'nexcage-system', attempt: 0 },
      hostname: 'nexcage-agent-x7k2p',
      log_directory: dir.join('logs', 'agent'),
      labels: { 'app.kubernetes.io/name': 'nexcage' },
      port_mappings: c.ports.map((p) => ({ protocol: p.protocol as 'TCP', container_port: p.containerPort, host_port: 0, host_ip: '' })),
      linux: {
        cgroup_parent: dir.cgroupParent,
        security_context: {
          namespace_options: namespaces,
          run_as_user: { value: String(sc.runAsUser) },
          run_as_group: { value: String(sc.runAsGroup) },
          supplemental_groups: sc.supplementalGroups.map(String),
          seccomp: { profile_type: sc.seccompProfile.type as 'RuntimeDefault' },
        },
      },
    };
    imageRef = (await call(d.client.image, 'PullImage', { image: { image: c.image }, sandbox_config: sandbox }, 300_000)).image_ref;
    podId = (await call(d.client.runtime, 'RunPodSandbox', { config: sandbox }, 60_000)).pod_sandbox_id;
    const podIp = (await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: podId })).status!.network!.ip!;
    // The API server, where a pod reaches the node: this pod network's gateway, over TLS.
    const gateway = dir.podNetwork.defaultSubnet.replace(/\.0\/\d+$/, '.1');
    const pki = dir.join('pki');
    mkdirSync(pki);
    const ssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: pki, stdio: 'ignore' });
    ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=kubernetes-ca']);
    ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver']);
    writeFileSync(join(pki, 'san.ext'), `subjectAltName=IP:${gateway},DNS:kubernetes.default.svc\n`);
    ssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.crt', '-days', '1', '-extfile', 'san.ext']);
    api = new KubeApiStandIn({ host: gateway, tls: { cert: readFileSync(join(pki, 'apiserver.crt'), 'utf8'), key: readFileSync(join(pki, 'apiserver.key'), 'utf8') } });
    api.addNode('node-1', { 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true' });
    await api.start();
    // The service account volume the kubelet projects into every pod that mounts its token.
    const sa = dir.join('serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), api.token);
    writeFileSync(join(sa, 'namespace'), 'nexcage-system');
    execFileSync('cp', [join(pki, 'ca.crt'), join(sa, 'ca.crt')]);
    const volumes = new Map(pod.volumes.map((v) => [v.name, v.hostPath.path]));
    const env = c.env.map((e) => {
      if (e.valueFrom) {
        expect(e.valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
        return { key: e.name, value: Buffer.from('node-1') };
      }
      return { key: e.name, value: Buffer.from(e.value ?? '') };
    });
    const cs = c.securityContext;
    const config: ContainerConfig = {
      metadata: { name: 'agent', attempt: 0 },
      image: { image: imageRef },
      command: [],
      args: c.args,
      envs: [...env, { key: 'KUBERNETES_SERVICE_HOST', value: Buffer.from(gateway) }, { key: 'KUBERNETES_SERVICE_PORT', value: Buffer.from(new URL(api.url).port) }],
      mounts: [
        ...c.volumeMounts.map((m) => ({ container_path: m.mountPath, host_path: volumes.get(m.name)!, readonly: m.readOnly, propagation: 'PROPAGATION_PRIVATE' as const })),
        { container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: sa, readonly: true, propagation: 'PROPAGATION_PRIVATE' as const },
      ],
      log_path: 'agent.log',
      linux: {
        resources: {
          // The kubelet's milliCPU -> shares (at least 2) and the memory limit.
          cpu_shares: String(Math.max(2, Math.floor((quantity(c.resources.requests.cpu) * 1000 * 1024) / 1000))),
          cpu_period: '100000',
          memory_limit_in_bytes: String(quantity(c.resources.limits.memory)),
        },
        security_context: {
          capabilities: { drop_capabilities: cs.capabilities.drop },
          privileged: cs.privileged,
          no_new_privs: !cs.allowPrivilegeEscalation,
          readonly_rootfs: cs.readOnlyRootFilesystem,
          namespace_options: namespaces,
          run_as_user: { value: String(sc.runAsUser) },
          run_as_group: { value: String(sc.runAsGroup) },
          supplemental_groups: sc.supplementalGroups.map(String),
          seccomp: { profile_type: 'RuntimeDefault' },
        },
      },
    };
    containerId = (await call(d.client.runtime, 'CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: sandbox }, 60_000)).container_id;
    await call(d.client.runtime, 'StartContainer', { container_id: containerId });

    // What the agent must do: label its Node, publish the RuntimeClass, pre-pull through the socket.
    const logs = (): string => {
      try {
        return readFileSync(join(sandbox.log_directory!, 'agent.log'), 'utf8');
      } catch {
        return '';
      }
    };
    const node = await waitFor('the agent to label its Node', () => {
      const n = api.nodes.get('node-1')!;
      return n.metadata.labels?.['nexcage.io/ready'] === 'true' ? n : undefined;
    }, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\nagent log:\n${logs()}`);
    });
    expect(node.metadata.labels).toEqual({ 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true', 'nexcage.io/version': '0.1.0', 'nexcage.io/ready': 'true', 'handler.nexcage.io/runc': 'true' });
    const rc = await waitFor('the RuntimeClass', () => api.runtimeClasses.get('runc'));
    expect(rc).toMatchObject({ handler: 'runc', scheduling: { nodeSelector: { 'handler.nexcage.io/runc': 'true' } }, metadata: { labels: { 'app.kubernetes.io/managed-by': 'nexcage-agent' } } });
    await waitFor('the pre-pulled image', async () => (await call(d.client.image, 'ImageStatus', { image: { image: prePull } })).image, 60_000);
    // The kubelet's readiness probe: /readyz on the pod's IP and the metrics port.
    await waitFor('/readyz on the pod IP', async () => (await fetch(`http://${podIp}:${c.ports[0]!.containerPort}/readyz`).catch(() => undefined))?.status === 200);
    expect(logs()).toContain('nexcage agent started');
    // Prometheus' way to the daemon: its metrics socket, relayed by the agent on the pod's port.
    const relayed = await (await fetch(`http://${podIp}:${c.ports[0]!.containerPort}/daemon/metrics`)).text();
    expect(relayed).toMatch(/^nexcage_build_info\{version="0\.1\.0"\} 1$/m);
  });

  it('runs as the non-root user with no capabilities, its memory under the chart request, the socket the only thing it sees', async () => {
    const st = await call(d.client.runtime, 'ContainerStatus', { container_id: containerId, verbose: true });
    expect(st.status?.state).toBe('CONTAINER_RUNNING');
    const pid = (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(status).toMatch(/^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
    // The socket's group (0) and its own primary group, nothing else.
    expect(status).toMatch(/^Groups:\s+0(\s+65532)?\s*$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--lite-mode');
    // Settled after several sync rounds and a pull: RSS within the chart's memory request.
    const rss = rssBytes(pid);
    expect(rss, `agent RSS ${(rss / MI).toFixed(1)} MiB`).toBeLessThanOrEqual(quantity(pod.containers[0]!.resources.requests.memory));
    expect(readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith('/run/nexcage')).map((l) => l.split(' ')[4])).toEqual(['/run/nexcage/sock']);
    expect(execFileSync('ls', [`/proc/${pid}/root/run/nexcage/sock`], { encoding: 'utf8' }).trim().split('\n')).toEqual(['metrics.sock', 'nexcage.sock']);
  });
});
