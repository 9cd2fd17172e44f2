// KubeApi against a tiny stand-in API server (node:http on 127.0.0.1; mocks of the API server are
// the only way here) that answers with the sparsest objects the API may send: fields omitted when
// empty (no labels, no annotations, no items, no name). The agent must read them as empty, not fail.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorMessage, KubeApi } from './kube-api.js';
import { KubeClient } from './kube-client.js';

let server: Server;
let api: KubeApi;
const answers = new Map<string, unknown>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = answers.get(`${req.method} ${req.url}`);
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { kind: 'Status', code: 404, message: 'not found' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api = new KubeApi(new KubeClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' }));
});

afterAll(async () => {
  api.close();
  await new Promise((r) => server.close(r));
});

describe('KubeApi with sparse objects', () => {
  it('a Node without metadata, labels or annotations reads as empty', async () => {
    answers.set('GET /api/v1/nodes/bare', { kind: 'Node' });
    answers.set('GET /api/v1/nodes/nolabels', { kind: 'Node', metadata: { name: 'nolabels' } });
    expect(await api.readNodeMeta('bare')).toEqual({ labels: {}, annotations: {} });
    expect(await api.readNodeMeta('nolabels')).toEqual({ labels: {}, annotations: {} });
  });

  it('a Node list without items is empty; an item without a name has the empty name', async () => {
    answers.set('GET /api/v1/nodes', { kind: 'NodeList' });
    expect(await api.listNodeMeta()).toEqual([]);
    answers.set('GET /api/v1/nodes', { kind: 'NodeList', items: [{}, { metadata: { name: 'n1', labels: { a: 'b' } } }] });
    expect(await api.listNodeMeta()).toEqual([
      { name: '', labels: {}, annotations: {} },
      { name: 'n1', labels: { a: 'b' }, annotations: {} },
    ]);
  });

  it('a RuntimeClass list without items is empty; a missing RuntimeClass reads as undefined', async () => {
    answers.set('GET /apis/node.k8s.io/v1/runtimeclasses?labelSelector=app%3Dnexcage', { kind: 'RuntimeClassList' });
    expect(await api.listRuntimeClasses('app=nexcage')).toEqual([]);
    expect(await api.readRuntimeClass('absent')).toBeUndefined();
  });

  it('an error message names its cause when the cause says more', () => {
    expect(apiErrorMessage(new Error('fetch failed', { cause: new Error('connect ECONNREFUSED 10.96.0.1:443') }))).toBe('fetch failed (connect ECONNREFUSED 10.96.0.1:443)');
    expect(apiErrorMessage(new Error('same', { cause: new Error('same') }))).toBe('same');
    expect(apiErrorMessage('plain string')).toBe('plain string');
  });
});
