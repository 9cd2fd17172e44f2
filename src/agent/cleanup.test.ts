// `nexcage agent cleanup` (the chart's uninstall hook) against the stand-in API server.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiStandIn } from '../../test/support/kube-api-standin.js';
import { silentLogger } from '../lib/log.js';
import { agentMetaRemoval, cleanupCluster } from './cleanup.js';
import { KubeApi } from './kube-api.js';
import { desiredRuntimeClass } from './runtime-classes.js';

describe('cleanup after helm uninstall', () => {
  const api = new KubeApiStandIn();
  const dir = mkdtempSync('/tmp/nexcage-cleanup-');
  let kube: KubeApi;
  beforeAll(async () => {
    await api.start();
    api.writeKubeconfig(join(dir, 'kubeconfig'));
    kube = KubeApi.connect(join(dir, 'kubeconfig'));
  });
  afterAll(async () => {
    kube.close();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes only the RuntimeClasses the agents created and strips only the agent labels and annotations', async () => {
    for (const [name, handler] of [['runc', 'runc'], ['nexcage-kata', 'kata']] as const) {
      const rc = desiredRuntimeClass({ name, handler });
      api.runtimeClasses.set(name, { ...rc, metadata: { ...rc.metadata, resourceVersion: '1' } } as never);
    }
    api.runtimeClasses.set('gvisor', { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'gvisor', resourceVersion: '1' }, handler: 'runsc' });
    api.addNode('n1', { 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true', 'nexcage.io/version': '0.1.0', 'nexcage.io/ready': 'true', 'handler.nexcage.io/runc': 'true' });
    api.nodes.get('n1')!.metadata.annotations = { 'nexcage.io/handlers': 'runc', 'nexcage.io/runtime-api-version': 'v1', 'other.io/keep': 'x' };
    api.addNode('n2', { 'kubernetes.io/os': 'linux' });

    const r = await cleanupCluster(kube, silentLogger());
    expect(r).toEqual({ runtimeClasses: ['runc', 'nexcage-kata'], nodes: ['n1'], errors: [] });
    expect([...api.runtimeClasses.keys()]).toEqual(['gvisor']);
    expect(api.nodes.get('n1')!.metadata.labels).toEqual({ 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true' });
    expect(api.nodes.get('n1')!.metadata.annotations).toEqual({ 'other.io/keep': 'x' });
    expect(api.requests.filter((q) => q.startsWith('PATCH'))).toEqual(['PATCH /api/v1/nodes/n1']);
    // Running it again finds nothing to do.
    expect(await cleanupCluster(kube, silentLogger())).toEqual({ runtimeClasses: [], nodes: [], errors: [] });
  });

  it('reports API failures instead of stopping at the first one', async () => {
    api.failNext(2, 503);
    const r = await cleanupCluster(kube, silentLogger());
    expect(r.errors).toEqual([expect.stringMatching(/^listing RuntimeClasses: HTTP 503/), expect.stringMatching(/^listing Nodes: HTTP 503/)]);
  });

  it('builds no patch for a node without agent metadata', () => {
    expect(agentMetaRemoval({ labels: { 'nexcage.io/runtime': 'true' }, annotations: {} })).toBeUndefined();
  });
});
