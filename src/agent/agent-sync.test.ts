// The agent's sync round and pre-puller against the stand-in API server
// (test/support/kube-api-standin.ts) and a small fake daemon (a gRPC server on a unix socket with
// the CRI calls the agent makes): what ends up on the Node and in RuntimeClasses, and what is
// logged and reported when the API server, the daemon or a pull fails.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../lib/log.js';
import { KubeApiStandIn } from '../../test/support/kube-api-standin.js';
import { loadCri } from '../cri/grpc/proto.js';
import { connectCri, type CriClient } from '../cri/grpc/client.js';
import { registry } from '../lib/metrics.js';
import { Agent } from './agent.js';
import { apiErrorMessage, httpStatus, KubeApi } from './kube-api.js';
import { defaultAgentOptions, type AgentOptions } from './options.js';
import { PrePuller } from './pre-pull.js';

interface Line {
  level: number;
  msg: string;
  err?: string;
  [k: string]: unknown;
}

/** What the fake daemon answers; tests change it between rounds. */
const daemon = {
  ready: true,
  reason: '',
  handlers: ['runc', 'crun'],
  present: new Set<string>(),
  pulls: [] as string[],
  /** image -> gRPC status code PullImage fails with */
  pullFails: new Map<string, number>(),
  imageStatusUnimplemented: false,
};

const dir = mkdtempSync('/tmp/nexcage-agent-');
const socket = join(dir, 'cri.sock');
let server: grpc.Server;
const api = new KubeApiStandIn();
const kubeconfig = join(dir, 'kubeconfig');

beforeAll(async () => {
  const cri = loadCri();
  server = new grpc.Server();
  const unary = (fn: (req: Record<string, unknown>) => unknown) => (c: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    try {
      cb(null, fn(c.request));
    } catch (err) {
      cb(err as grpc.ServiceError);
    }
  };
  const fail = (code: number, details: string): grpc.ServiceError => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
  server.addService(cri.runtime.v1.RuntimeService.service, {
    Version: unary(() => ({ version: '0.1.0', runtime_name: 'nexcage', runtime_version: '1.2.3+test', runtime_api_version: 'v1' })),
    Status: unary(() => ({
      status: { conditions: [{ type: 'RuntimeReady', status: daemon.ready, reason: daemon.reason, message: daemon.ready ? '' : 'runc is missing' }, { type: 'NetworkReady', status: true }] },
      runtime_handlers: [{ name: '' }, ...daemon.handlers.map((name) => ({ name }))],
    })),
  });
  server.addService(cri.runtime.v1.ImageService.service, {
    ImageStatus: unary((req) => {
      if (daemon.imageStatusUnimplemented) throw fail(grpc.status.UNIMPLEMENTED, 'ImageStatus is not implemented');
      const image = (req.image as { image: string }).image;
      return daemon.present.has(image) ? { image: { id: `sha256:${image}`, repo_tags: [image] } } : {};
    }),
    PullImage: unary((req) => {
      const image = (req.image as { image: string }).image;
      daemon.pulls.push(image);
      const code = daemon.pullFails.get(image);
      if (code !== undefined) throw fail(code, `pulling ${image} failed on purpose`);
      daemon.present.add(image);
      return { image_ref: `sha256:${image}` };
    }),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  await api.start();
  api.writeKubeconfig(kubeconfig);
});

afterAll(async () => {
  server.forceShutdown();
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

function capture(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) }), lines };
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value ?? 0;
}

function agentOptions(o: Partial<AgentOptions> = {}): AgentOptions {
  return { ...defaultAgentOptions(), socket, nodeName: 'n1', healthAddress: '', resyncSeconds: 3600, retryInitialMs: 10, retryMaxMs: 20, ...o };
}

describe('agent sync round', () => {
  const agents: Agent[] = [];
  beforeEach(() => {
    Object.assign(daemon, { ready: true, reason: '', handlers: ['runc', 'crun'] });
    api.nodes.clear();
    api.runtimeClasses.clear();
    api.addNode('n1', { 'kubernetes.io/os': 'linux' });
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
  });
  const make = (o: Partial<AgentOptions> = {}, log = capture().log): Agent => {
    const a = new Agent(agentOptions(o), KubeApi.connect(kubeconfig), log);
    agents.push(a);
    return a;
  };

  it('labels the Node from the daemon and publishes one RuntimeClass per handler', async () => {
    const agent = make();
    expect(await agent.syncOnce()).toBe(true);
    expect(agent.daemonReachable).toBe(true);
    expect(api.nodes.get('n1')?.metadata.labels).toEqual({
      'kubernetes.io/os': 'linux',
      'nexcage.io/version': '1.2.3-test',
      'nexcage.io/ready': 'true',
      'handler.nexcage.io/runc': 'true',
      'handler.nexcage.io/crun': 'true',
    });
    expect([...api.runtimeClasses.keys()].sort()).toEqual(['crun', 'runc']);
    // Nothing changed: the next round only reads.
    const before = api.requests.length;
    expect(await agent.syncOnce()).toBe(true);
    expect(api.requests.slice(before).every((r) => r.startsWith('GET '))).toBe(true);
  });

  it('a runtime that is not ready: ready=false with the reason on the Node; the round still succeeds', async () => {
    Object.assign(daemon, { ready: false, reason: 'RuntimeNotReady' });
    expect(await make().syncOnce()).toBe(true);
    const node = api.nodes.get('n1')!;
    expect(node.metadata.labels?.['nexcage.io/ready']).toBe('false');
    expect(node.metadata.annotations?.['nexcage.io/not-ready-reason']).toBe('RuntimeNotReady: runc is missing');
    expect(await metric('nexcage_agent_runtime_ready')).toBe(0);
  });

  it('a daemon that does not answer: the Node says why, RuntimeClasses are left alone, the round fails', async () => {
    const { log, lines } = capture();
    const agent = make({ socket: join(dir, 'nobody-listens.sock') }, log);
    const first = api.requests.length;
    expect(await agent.syncOnce()).toBe(false);
    expect(agent.daemonReachable).toBe(false);
    const node = api.nodes.get('n1')!;
    expect(node.metadata.labels?.['nexcage.io/ready']).toBe('false');
    expect(node.metadata.annotations?.['nexcage.io/not-ready-reason']).toMatch(/^daemon unreachable: 14 UNAVAILABLE/);
    expect(api.runtimeClasses.size).toBe(0);
    expect(api.requests.slice(first)).toEqual(['GET /api/v1/nodes/n1', 'PATCH /api/v1/nodes/n1']);
    expect(lines.find((l) => l.msg === 'the nexcage daemon is not reachable')).toMatchObject({ socket: join(dir, 'nobody-listens.sock') });
    expect(await metric('nexcage_agent_daemon_up')).toBe(0);
  });

  it('an API server error on the Node fails the round (logged, counted) but RuntimeClasses are still published', async () => {
    const { log, lines } = capture();
    const agent = make({}, log);
    const errorsBefore = await metric('nexcage_agent_api_errors_total', { operation: 'node' });
    api.failNext(1, 503);
    expect(await agent.syncOnce()).toBe(false);
    expect(lines.find((l) => l.msg === 'updating the Node failed')).toMatchObject({ node: 'n1', err: 'HTTP 503: stand-in failure injected (HTTP 503) (GET /api/v1/nodes/n1)' });
    expect(await metric('nexcage_agent_api_errors_total', { operation: 'node' })).toBe(errorsBefore + 1);
    expect([...api.runtimeClasses.keys()].sort()).toEqual(['crun', 'runc']);
    // The next round repairs the Node.
    expect(await agent.syncOnce()).toBe(true);
    expect(api.nodes.get('n1')?.metadata.labels?.['nexcage.io/ready']).toBe('true');
  });

  it('a Node that does not exist (wrong NODE_NAME) is a 404 naming it', async () => {
    const { log, lines } = capture();
    expect(await make({ nodeName: 'ghost' }, log).syncOnce()).toBe(false);
    expect(lines.find((l) => l.msg === 'updating the Node failed')?.err).toBe('HTTP 404: nodes "ghost" not found (GET /api/v1/nodes/ghost)');
  });

  it('a configured RuntimeClass whose handler the daemon lacks is published with a warning; an API error on it fails the round', async () => {
    const { log, lines } = capture();
    const agent = make({ runtimeClasses: [{ name: 'nexcage-kata', handler: 'kata' }] }, log);
    expect(await agent.syncOnce()).toBe(true);
    expect(lines.find((l) => l.msg === 'the daemon on this node has no such handler')).toMatchObject({ runtimeClass: 'nexcage-kata', handler: 'kata', handlers: ['runc', 'crun'] });
    expect([...api.runtimeClasses.keys()]).toEqual(['nexcage-kata']);

    // The API fails both the Node read and the RuntimeClass read of the next round.
    api.runtimeClasses.clear();
    const agent2 = make({ runtimeClasses: [{ name: 'fast', handler: 'crun' }] }, log);
    api.failNext(2, 500);
    expect(await agent2.syncOnce()).toBe(false);
    expect(lines.filter((l) => l.msg === 'publishing the RuntimeClass failed').at(-1)).toMatchObject({ runtimeClass: 'fast', err: expect.stringMatching(/^HTTP 500/) });
  });

  it('an unauthorized agent (wrong token) gets HTTP 401 on every call, and says so', async () => {
    const bad = join(dir, 'bad-kubeconfig');
    api.writeKubeconfig(bad);
    writeFileSync(bad, readFileSync(bad, 'utf8').replace(api.token, 'wrong-token'));
    const { log, lines } = capture();
    const agent = new Agent(agentOptions(), KubeApi.connect(bad), log);
    agents.push(agent);
    expect(await agent.syncOnce()).toBe(false);
    expect(lines.find((l) => l.msg === 'updating the Node failed')?.err).toBe('HTTP 401: Unauthorized (GET /api/v1/nodes/n1)');
    expect(lines.find((l) => l.msg === 'publishing the RuntimeClass failed')?.err).toMatch(/^HTTP 401: Unauthorized \(GET \/apis\/node.k8s.io\/v1\/runtimeclasses\//);
  });

  it('serves /readyz from the daemon only: ready while the daemon answers, even with the API server down', async () => {
    const agent = make({ healthAddress: '127.0.0.1:0' });
    const address = await agent.start();
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const deadline = Date.now() + 10_000;
    while (!agent.lastSyncOk && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(agent.lastSyncOk).toBe(true);
    await api.stop();
    try {
      expect(await agent.syncOnce()).toBe(false);
      const res = await fetch(`http://${address}/readyz`);
      expect(res.status).toBe(200);
    } finally {
      await api.start();
    }
  });

  it('serves /readyz 503 naming the socket when the daemon does not answer', async () => {
    const quiet = join(dir, 'quiet.sock');
    const agent = make({ healthAddress: '127.0.0.1:0', socket: quiet });
    const address = await agent.start();
    await agent.syncOnce();
    const res = await fetch(`http://${address}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain(`the daemon at ${quiet} did not answer in the last round`);
  });
});

describe('KubeApi error paths', () => {
  let kube: KubeApi;
  beforeEach(() => {
    kube = KubeApi.connect(kubeconfig);
    api.runtimeClasses.clear();
  });
  afterEach(() => kube.close());

  it('reading a RuntimeClass: 404 is "none", any other error is thrown', async () => {
    expect(await kube.readRuntimeClass('absent')).toBeUndefined();
    api.failNext(1, 500);
    const err = await kube.readRuntimeClass('absent').catch((e: unknown) => e);
    expect(httpStatus(err)).toBe(500);
  });

  it('deleting a RuntimeClass that is gone is fine; a failing delete is thrown', async () => {
    await expect(kube.deleteRuntimeClass('absent')).resolves.toBeUndefined();
    api.failNext(1, 429);
    await expect(kube.deleteRuntimeClass('absent')).rejects.toMatchObject({ code: 429 });
  });

  it('creating one that exists is 409, replacing with a stale resourceVersion is 409, a changed handler 422', async () => {
    const rc = { apiVersion: 'node.k8s.io/v1' as const, kind: 'RuntimeClass' as const, metadata: { name: 'x' }, handler: 'runc' };
    await kube.createRuntimeClass(rc);
    await expect(kube.createRuntimeClass(rc)).rejects.toMatchObject({ code: 409, message: expect.stringContaining('already exists') });
    await expect(kube.replaceRuntimeClass({ ...rc, metadata: { name: 'x', resourceVersion: '0' } })).rejects.toMatchObject({ code: 409 });
    const current = await kube.readRuntimeClass('x');
    await expect(kube.replaceRuntimeClass({ ...rc, handler: 'crun', metadata: { name: 'x', resourceVersion: current!.metadata.resourceVersion } })).rejects.toMatchObject({
      code: 422,
      message: 'HTTP 422: handler: Invalid value: field is immutable (PUT /apis/node.k8s.io/v1/runtimeclasses/x)',
    });
  });

  it('lists RuntimeClasses by label selector, and Nodes with their metadata', async () => {
    await kube.createRuntimeClass({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'a', labels: { team: 'x' } }, handler: 'runc' });
    await kube.createRuntimeClass({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'b' }, handler: 'runc' });
    expect((await kube.listRuntimeClasses('team=x')).map((r) => r.metadata.name)).toEqual(['a']);
    api.addNode('bare');
    const bare = (await kube.listNodeMeta()).find((n) => n.name === 'bare');
    expect(bare).toEqual({ name: 'bare', labels: {}, annotations: {} });
  });

  it('an API server that is down: the connection error, readable', async () => {
    await api.stop();
    try {
      const err = await kube.readNodeMeta('n1').catch((e: unknown) => e);
      expect(httpStatus(err)).toBeUndefined();
      // Refused, or a kept-alive connection found closed: either way the network error's own text.
      expect(apiErrorMessage(err)).toMatch(/ECONNREFUSED|socket hang up|ECONNRESET/);
    } finally {
      await api.start();
    }
  });

  it('apiErrorMessage adds a different cause, and takes any thrown value', () => {
    expect(apiErrorMessage(new Error('fetch failed', { cause: new Error('connect ECONNREFUSED') }))).toBe('fetch failed (connect ECONNREFUSED)');
    expect(apiErrorMessage(new Error('same', { cause: new Error('same') }))).toBe('same');
    expect(apiErrorMessage('text')).toBe('text');
  });
});

describe('pre-pull', () => {
  let client: CriClient;
  beforeEach(() => {
    client = connectCri(socket);
    Object.assign(daemon, { present: new Set<string>(), pulls: [], pullFails: new Map(), imageStatusUnimplemented: false });
  });
  afterEach(() => client.close());

  const puller = (images: string[], log = capture().log): PrePuller => new PrePuller(() => client, { images, resyncMs: 3_600_000, retryInitialMs: 10, retryMaxMs: 20 }, log);

  it('pulls what is missing, skips what is present, and is complete once all are there', async () => {
    daemon.present.add('present:1');
    const p = puller(['present:1', 'a:1', 'b:1']);
    expect(p.complete).toBe(false);
    expect(await p.round(new AbortController().signal)).toBe(true);
    expect(daemon.pulls).toEqual(['a:1', 'b:1']);
    expect(Object.fromEntries(p.state)).toEqual({ 'present:1': 'done', 'a:1': 'done', 'b:1': 'done' });
    expect(p.complete).toBe(true);
    expect(await metric('nexcage_agent_prepull_images', { state: 'done' })).toBe(3);
  });

  it('a failing pull marks that image failed and goes on with the others; the next round retries it', async () => {
    daemon.pullFails.set('bad:1', grpc.status.NOT_FOUND);
    const { log, lines } = capture();
    const p = puller(['bad:1', 'good:1'], log);
    expect(await p.round(new AbortController().signal)).toBe(false);
    expect(Object.fromEntries(p.state)).toEqual({ 'bad:1': 'failed', 'good:1': 'done' });
    expect(lines.find((l) => l.msg === 'pre-pull: pull failed; will retry')).toMatchObject({ image: 'bad:1', err: expect.stringContaining('pulling bad:1 failed on purpose') });
    daemon.pullFails.clear();
    expect(await p.round(new AbortController().signal)).toBe(true);
    expect(daemon.pulls).toEqual(['bad:1', 'good:1', 'bad:1']);
  });

  it('a daemon that cannot pull (UNIMPLEMENTED) stops the round at the first image', async () => {
    daemon.pullFails.set('a:1', grpc.status.UNIMPLEMENTED);
    const { log, lines } = capture();
    const p = puller(['a:1', 'b:1'], log);
    expect(await p.round(new AbortController().signal)).toBe(false);
    expect(daemon.pulls).toEqual(['a:1']);
    expect(Object.fromEntries(p.state)).toEqual({ 'a:1': 'failed', 'b:1': 'pending' });
    expect(lines.some((l) => l.msg === 'pre-pull: the daemon does not implement PullImage (UNIMPLEMENTED); will retry')).toBe(true);
  });

  it('an ImageStatus that is not implemented does not stop the pull', async () => {
    daemon.imageStatusUnimplemented = true;
    const p = puller(['a:1']);
    expect(await p.round(new AbortController().signal)).toBe(true);
    expect(daemon.pulls).toEqual(['a:1']);
  });

  it('run() retries with backoff until everything is there, and returns when aborted; nothing to do returns at once', async () => {
    daemon.pullFails.set('a:1', grpc.status.UNAVAILABLE);
    const { log, lines } = capture();
    const p = puller(['a:1'], log);
    const ac = new AbortController();
    const running = p.run(ac.signal);
    const deadline = Date.now() + 10_000;
    while (daemon.pulls.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    daemon.pullFails.clear();
    while (!p.complete && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(p.complete).toBe(true);
    expect(lines.some((l) => l.msg === 'pre-pull: retrying the images not pulled yet')).toBe(true);
    ac.abort();
    await running;
    await puller([]).run(new AbortController().signal);
    const aborted = new AbortController();
    aborted.abort();
    expect(await puller(['x:1']).round(aborted.signal)).toBe(false);
  });
});
