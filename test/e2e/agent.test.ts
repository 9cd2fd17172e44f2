// The node agent (`nexcage agent`) against the REAL daemon over its CRI socket and a stand-in for
// the Kubernetes API server (test/support/kube-api-standin.ts): no API server can run on this
// machine, so a small HTTP server implements the few endpoints the agent calls.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { buildTestImages, pushImage } from '../support/image-builder.js';
import { KubeApiStandIn } from '../support/kube-api-standin.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, MAIN, NODE, runCli, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

class AgentProcess {
  readonly lines: string[] = [];
  healthUrl = '';
  exit: { code: number | null; signal: string | null } | undefined;
  private proc!: ChildProcess;

  constructor(private readonly args: string[]) {}

  async start(): Promise<void> {
    this.proc = spawn(NODE, [MAIN, 'agent', ...this.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NAME: 'node-1' } });
    let buf = '';
    const onData = (b: Buffer): void => {
      buf += b.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    };
    this.proc.stdout?.on('data', onData);
    this.proc.stderr?.on('data', onData);
    this.proc.on('exit', (code, signal) => (this.exit = { code, signal }));
    const started = await waitFor('the agent to start', () => {
      if (this.exit) throw new Error(`agent exited ${JSON.stringify(this.exit)}:\n${this.lines.join('\n')}`);
      return this.logs().find((l) => l.msg === 'nexcage agent started');
    });
    this.healthUrl = `http://${started.healthAddress as string}`;
  }

  logs(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  async stop(): Promise<{ code: number | null; signal: string | null }> {
    if (!this.exit) this.proc.kill('SIGTERM');
    return waitFor('the agent to exit', () => this.exit);
  }
}

async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

describe('nexcage agent', () => {
  const api = new KubeApiStandIn();
  let daemon: Daemon;
  let agent: AgentProcess;
  let registry: TestRegistry;
  let prePull: string[];

  beforeAll(async () => {
    // A real registry with two small test images, and one reference that does not exist.
    registry = await TestRegistry.start({ parent: t.dir().path });
    const images = await buildTestImages();
    await pushImage(registry.pushTarget, 'test/busybox', ['latest'], images.busybox);
    await pushImage(registry.pushTarget, 'test/user', ['latest'], images.user);
    prePull = [`${registry.host}/test/busybox:latest`, `${registry.host}/test/missing:1`, `${registry.host}/test/user:latest`];
    api.addNode('node-1', { 'kubernetes.io/os': 'linux', 'handler.nexcage.io/gone': 'true' });
    // A foreign RuntimeClass with a name the agent is told to publish: it must be left alone.
    api.runtimeClasses.set('foreign', { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'foreign', resourceVersion: '1' }, handler: 'runc' });
    await api.start();
    api.writeKubeconfig(t.dir().join('kubeconfig'));
    daemon = t.track(new Daemon(t.dir(), 'agentd', { config: { runtimes: { runc: { path: 'runc' }, kata: { path: 'runc' } }, metricsSocket: t.dir().join('agentd-metrics.sock') } }));
    await daemon.start();
    agent = new AgentProcess([
      '--socket', daemon.socket,
      '--kubeconfig', t.dir().join('kubeconfig'),
      '--runtime-classes', 'runc,kata=nexcage-kata,runc=foreign',
      '--pre-pull', prePull.join(','),
      '--health-address', '127.0.0.1:0',
      '--daemon-metrics-socket', t.dir().join('agentd-metrics.sock'),
      '--resync-seconds', '1',
      '--retry-initial-ms', '50',
      '--retry-max-ms', '400',
    ]);
    await agent.start();
  });

  afterAll(async () => {
    if (agent && !agent.exit) expect(await agent.stop()).toEqual({ code: 0, signal: null });
    await api.stop();
    await registry?.stop();
  });

  it('labels and annotates its Node from what the daemon reports', async () => {
    const node = await waitFor('the node labels', () => {
      const n = api.nodes.get('node-1')!;
      return n.metadata.labels?.['nexcage.io/ready'] === 'true' ? n : undefined;
    });
    expect(node.metadata.labels).toEqual({
      'kubernetes.io/os': 'linux',
      'nexcage.io/version': '0.1.0',
      'nexcage.io/ready': 'true',
      'handler.nexcage.io/runc': 'true',
      'handler.nexcage.io/kata': 'true',
    });
    expect(node.metadata.annotations).toEqual({ 'nexcage.io/handlers': 'runc,kata', 'nexcage.io/runtime-api-version': 'v1' });
  });

  it("relays the daemon's metrics from its metrics socket on /daemon/metrics", async () => {
    const res = await fetch(`${agent.healthUrl}/daemon/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^nexcage_build_info\{version="0\.1\.0"\} 1$/m);
    expect(text).toContain('nexcage_grpc_requests_total{method="Status",code="OK"}');
    // The agent's own metrics stay on /metrics.
    expect(await (await fetch(`${agent.healthUrl}/metrics`)).text()).not.toContain('nexcage_build_info{');
  });

  it('creates one RuntimeClass per configured handler, scheduling onto nodes that have it', async () => {
    const rc = await waitFor('the RuntimeClasses', () => api.runtimeClasses.get('runc') && api.runtimeClasses.get('nexcage-kata'));
    expect(rc).toMatchObject({
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: 'nexcage-kata', labels: { 'app.kubernetes.io/managed-by': 'nexcage-agent' } },
      handler: 'kata',
      scheduling: { nodeSelector: { 'handler.nexcage.io/kata': 'true' } },
    });
    expect(api.runtimeClasses.get('runc')?.handler).toBe('runc');
    expect(api.runtimeClasses.get('foreign')).toEqual({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'foreign', resourceVersion: '1' }, handler: 'runc' });
    await waitFor('the foreign RuntimeClass to be left alone', () => agent.logs().some((l) => l.runtimeClass === 'foreign' && String(l.msg).includes('not managed by')));
    expect(api.requests).not.toContain('PUT /apis/node.k8s.io/v1/runtimeclasses/foreign');
  });

  it('puts back a RuntimeClass of its own that someone changed', async () => {
    const rc = api.runtimeClasses.get('runc')!;
    api.runtimeClasses.set('runc', { ...rc, scheduling: { nodeSelector: { somewhere: 'else' } } });
    const fixed = await waitFor('the RuntimeClass update', () => {
      const now = api.runtimeClasses.get('runc')!;
      return (now.scheduling as { nodeSelector: Record<string, string> }).nodeSelector['handler.nexcage.io/runc'] === 'true' ? now : undefined;
    });
    expect(api.requests).toContain('PUT /apis/node.k8s.io/v1/runtimeclasses/runc');
    expect(fixed.scheduling).toEqual({ nodeSelector: { 'handler.nexcage.io/runc': 'true' } });
  });

  it('retries through API errors and an API server that is down, without exiting', async () => {
    api.failNext(6, 503);
    api.nodes.get('node-1')!.metadata.labels!['nexcage.io/version'] = 'stale';
    await waitFor('the injected failures to be used', () => agent.logs().some((l) => l.msg === 'updating the Node failed' && String(l.err).startsWith('HTTP 503')));
    await waitFor('the label to be restored', () => api.nodes.get('node-1')!.metadata.labels!['nexcage.io/version'] === '0.1.0');
    await api.stop();
    api.nodes.get('node-1')!.metadata.labels!['nexcage.io/version'] = 'stale-again';
    await waitFor('a refused connection to be logged', () => agent.logs().some((l) => l.msg === 'updating the Node failed' && /ECONNREFUSED|refused|fetch failed/i.test(String(l.err))));
    expect(agent.exit).toBeUndefined();
    expect((await fetch(`${agent.healthUrl}/healthz`)).status).toBe(200);
    // Ready follows the node's daemon, not the API server: an API outage must not stall rollouts.
    const syncErrors = await metric(agent.healthUrl, 'nexcage_agent_syncs_total', '{result="error"}');
    await waitFor('another failed sync round', async () => (await metric(agent.healthUrl, 'nexcage_agent_syncs_total', '{result="error"}')) > syncErrors);
    expect((await fetch(`${agent.healthUrl}/readyz`)).status).toBe(200);
    await api.start();
    await waitFor('the agent to recover', () => api.nodes.get('node-1')!.metadata.labels!['nexcage.io/version'] === '0.1.0');
    expect(await metric(agent.healthUrl, 'nexcage_agent_api_errors_total', '{operation="node"}')).toBeGreaterThanOrEqual(2);
  });

  it('marks the Node not ready while the daemon is down and ready again when it is back', async () => {
    await daemon.stop();
    const down = await waitFor('nexcage.io/ready=false', () => {
      const n = api.nodes.get('node-1')!;
      return n.metadata.labels?.['nexcage.io/ready'] === 'false' ? n : undefined;
    });
    expect(down.metadata.annotations?.['nexcage.io/not-ready-reason']).toMatch(/^daemon unreachable: /);
    expect(down.metadata.labels?.['handler.nexcage.io/runc']).toBe('true');
    expect(await metric(agent.healthUrl, 'nexcage_agent_daemon_up')).toBe(0);
    await waitFor('/readyz to report the daemon down', async () => (await fetch(`${agent.healthUrl}/readyz`)).status === 503);
    const relay = await fetch(`${agent.healthUrl}/daemon/metrics`);
    expect(relay.status).toBe(502);
    expect(await relay.text()).toMatch(/^daemon metrics unavailable at .*agentd-metrics\.sock: connect ENOENT/);
    await daemon.start();
    const up = await waitFor('nexcage.io/ready=true', () => {
      const n = api.nodes.get('node-1')!;
      return n.metadata.labels?.['nexcage.io/ready'] === 'true' ? n : undefined;
    });
    expect(up.metadata.annotations?.['nexcage.io/not-ready-reason']).toBeUndefined();
    expect(await metric(agent.healthUrl, 'nexcage_agent_daemon_up')).toBe(1);
    await waitFor('/readyz to be ok again', async () => (await fetch(`${agent.healthUrl}/readyz`)).status === 200);
  });

  it('pre-pulls the listed images through the daemon, with progress in logs and metrics, retrying failures', async () => {
    const [busybox, missing, user] = prePull as [string, string, string];
    await waitFor('both images pulled', () => {
      const pulled = agent.logs().filter((l) => l.msg === 'pre-pull: pulled' || (typeof l.msg === 'string' && l.msg.startsWith('pre-pull progress') && l.result === 'present'));
      return new Set(pulled.map((l) => l.image)).size === 2;
    }, 60_000);
    for (const ref of [busybox, user]) {
      const st = await call(daemon.client.image, 'ImageStatus', { image: { image: ref }, verbose: false });
      expect(st.image?.repo_tags, ref).toContain(ref);
    }
    const progress = agent.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('pre-pull progress'));
    expect(progress.find((l) => l.image === busybox)).toMatchObject({ total: 3, done: 1, msg: 'pre-pull progress 1/3' });
    expect(progress.find((l) => l.image === missing)).toMatchObject({ result: 'failed' });
    // The missing image is retried with backoff; the others are not pulled twice.
    await waitFor('a retry of the missing image', () => agent.logs().filter((l) => l.image === missing && l.msg === 'pre-pull: pull failed; will retry').length >= 2);
    // Earlier rounds may have run while the previous test had the daemon down: the gauges settle
    // once a full round has gone through with the daemon up.
    await waitFor('two images done and one failed in the gauges', async () =>
      (await metric(agent.healthUrl, 'nexcage_agent_prepull_images', '{state="done"}')) === 2 &&
      (await metric(agent.healthUrl, 'nexcage_agent_prepull_images', '{state="failed"}')) === 1,
    30_000);
    expect(await metric(agent.healthUrl, 'nexcage_agent_image_pulls_total', '{result="pulled"}')).toBe(2);
    expect(await metric(agent.healthUrl, 'nexcage_agent_image_pulls_total', '{result="failed"}')).toBeGreaterThanOrEqual(2);
    expect(agent.exit).toBeUndefined();
  });

  it('`nexcage agent cleanup` (the uninstall hook) removes its RuntimeClasses and Node labels once the agent is gone', async () => {
    expect(await agent.stop()).toEqual({ code: 0, signal: null });
    api.nodes.get('node-1')!.metadata.labels!['nexcage.io/runtime'] = 'true';
    const r = await runCli(['agent', 'cleanup', '--kubeconfig', t.dir().join('kubeconfig')]);
    expect(r.code, r.stderr).toBe(0);
    expect([...api.runtimeClasses.keys()]).toEqual(['foreign']);
    expect(api.nodes.get('node-1')!.metadata.labels).toEqual({ 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true' });
    expect(api.nodes.get('node-1')!.metadata.annotations).toEqual({});
  });
});
