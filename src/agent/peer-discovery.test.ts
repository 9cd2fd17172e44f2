import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointSliceStandIn } from '../../test/support/endpointslice-standin.js';
import type { Logger } from '../lib/log.js';
import { KubeClient } from './kube-client.js';
import { PeerDiscovery, slicePeers } from './peer-discovery.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
let api: EndpointSliceStandIn;
let dir: string;

beforeAll(async () => {
  api = new EndpointSliceStandIn();
  await api.start();
  dir = mkdtempSync(join(tmpdir(), 'peer-discovery-'));
});

afterAll(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

const slice = (name: string, endpoints: { ip: string; node: string; ready?: boolean }[], service = 'nexcage-peers') => ({
  metadata: { name, namespace: 'kube-system', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4' as const,
  ports: [{ name: 'peers', port: 9103 }],
  endpoints: endpoints.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true } })),
});

async function until<T>(what: string, check: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function peersIn(file: string): string[] | undefined {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { peers: string[] }).peers;
  } catch {
    return undefined;
  }
}

describe('slicePeers', () => {
  it('takes ready endpoints on other nodes with the named port, brackets IPv6', () => {
    const s = slice('a', [
      { ip: '10.0.0.1', node: 'n1' },
      { ip: '10.0.0.2', node: 'self' },
      { ip: '10.0.0.3', node: 'n3', ready: false },
    ]);
    expect(slicePeers(s, 'peers', 'self')).toEqual(['10.0.0.1:9103']);
    expect(slicePeers(s, 'other', 'self')).toEqual([]);
    expect(slicePeers({ ...s, addressType: 'IPv6', endpoints: [{ addresses: ['fd00::1'], nodeName: 'n1' }] }, '', 'self')).toEqual(['[fd00::1]:9103']);
  });
});

describe('PeerDiscovery against the API stand-in', () => {
  it('lists, then follows EndpointSlice adds, changes and removals into the peer file, re-listing after a cut or expired watch', async () => {
    const file = join(dir, 'peers.json');
    api.put(slice('s1', [{ ip: '10.0.0.1', node: 'n1' }, { ip: '10.0.0.9', node: 'self' }]));
    api.put(slice('other', [{ ip: '10.9.9.9', node: 'n9' }], 'another-service'));
    const client = new KubeClient({ server: api.url, token: api.token });
    const d = new PeerDiscovery(client, { namespace: 'kube-system', service: 'nexcage-peers', portName: 'peers', nodeName: 'self', file, retryInitialMs: 10, retryMaxMs: 50 }, log);
    const stop = new AbortController();
    const running = d.run(stop.signal);
    try {
      // This node and other services' endpoints are left out.
      await until('the listed peer', () => (peersIn(file)?.join() === '10.0.0.1:9103' ? true : undefined));
      await until('the watch to open', () => (api.openWatches === 1 ? true : undefined));
      api.put(slice('s2', [{ ip: '10.0.0.2', node: 'n2' }]));
      await until('an added slice', () => (peersIn(file)?.join() === '10.0.0.1:9103,10.0.0.2:9103' ? true : undefined));
      api.put(slice('s1', [{ ip: '10.0.0.1', node: 'n1', ready: false }]));
      await until('a node going unready', () => (peersIn(file)?.join() === '10.0.0.2:9103' ? true : undefined));
      api.remove('s2');
      await until('a removed slice', () => (peersIn(file)?.length === 0 ? true : undefined));
      // A cut watch: the next list sees what changed meanwhile.
      api.cutWatches();
      api.put(slice('s3', [{ ip: '10.0.0.3', node: 'n3' }]));
      await until('a slice added across a cut watch', () => (peersIn(file)?.join() === '10.0.0.3:9103' ? true : undefined));
      await until('the watch to reopen', () => (api.openWatches === 1 ? true : undefined));
      // An expired resourceVersion (410 Gone) makes it list again.
      const lists = api.requests.filter((r) => r === 'GET /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices').length;
      api.expireNextWatch();
      api.cutWatches();
      await until('a new list after 410', () => (api.requests.filter((r) => r === 'GET /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices').length >= lists + 2 ? true : undefined));
      api.put(slice('s4', [{ ip: '10.0.0.4', node: 'n4' }]));
      await until('a slice after the re-list', () => (peersIn(file)?.join() === '10.0.0.3:9103,10.0.0.4:9103' ? true : undefined));
    } finally {
      stop.abort();
      await running;
      client.close();
    }
  });
});
