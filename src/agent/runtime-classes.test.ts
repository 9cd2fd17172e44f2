// ensureRuntimeClass through the agent's Kubernetes client against the stand-in for the API
// server (test/support/kube-api-standin.ts; no API server can run here).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiStandIn } from '../../test/support/kube-api-standin.js';
import { silentLogger } from '../lib/log.js';
import { KubeApi } from './kube-api.js';
import { desiredRuntimeClass, ensureRuntimeClass } from './runtime-classes.js';

describe('ensureRuntimeClass', () => {
  const api = new KubeApiStandIn();
  const dir = mkdtempSync('/tmp/nexcage-rc-');
  let kube: KubeApi;
  beforeAll(async () => {
    await api.start();
    api.writeKubeconfig(join(dir, 'kubeconfig'));
    kube = KubeApi.connect(join(dir, 'kubeconfig'));
  });
  afterAll(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const log = silentLogger();

  it('creates a missing RuntimeClass, then leaves it unchanged', async () => {
    expect(await ensureRuntimeClass(kube, { name: 'runc', handler: 'runc' }, log)).toBe('created');
    expect(api.runtimeClasses.get('runc')).toMatchObject(desiredRuntimeClass({ name: 'runc', handler: 'runc' }) as object);
    const before = api.requests.length;
    expect(await ensureRuntimeClass(kube, { name: 'runc', handler: 'runc' }, log)).toBe('unchanged');
    expect(api.requests.slice(before)).toEqual(['GET /apis/node.k8s.io/v1/runtimeclasses/runc']);
  });

  it('updates its own RuntimeClass whose scheduling drifted, with the current resourceVersion', async () => {
    const rc = api.runtimeClasses.get('runc')!;
    api.runtimeClasses.set('runc', { ...rc, scheduling: {} });
    expect(await ensureRuntimeClass(kube, { name: 'runc', handler: 'runc' }, log)).toBe('updated');
    expect(api.runtimeClasses.get('runc')?.scheduling).toEqual({ nodeSelector: { 'handler.nexcage.io/runc': 'true' } });
  });

  it('does not touch a RuntimeClass someone else made, nor one of its own with another (immutable) handler', async () => {
    api.runtimeClasses.set('gvisor', { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'gvisor', resourceVersion: '1' }, handler: 'runsc' });
    expect(await ensureRuntimeClass(kube, { name: 'gvisor', handler: 'runc' }, log)).toBe('foreign');
    const mine = desiredRuntimeClass({ name: 'fast', handler: 'crun' });
    api.runtimeClasses.set('fast', { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', handler: 'crun', metadata: { name: 'fast', labels: mine.metadata?.labels, resourceVersion: '1' } });
    const before = api.requests.length;
    expect(await ensureRuntimeClass(kube, { name: 'fast', handler: 'runc' }, log)).toBe('conflict');
    expect(api.requests.slice(before).filter((r) => !r.startsWith('GET'))).toEqual([]);
    expect(api.runtimeClasses.get('fast')?.handler).toBe('crun');
  });

  it('throws the API error for the caller to retry', async () => {
    api.failNext(1, 503);
    await expect(ensureRuntimeClass(kube, { name: 'x', handler: 'runc' }, log)).rejects.toMatchObject({ code: 503 });
  });
});
