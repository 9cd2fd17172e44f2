// PeerDiscovery when the API misbehaves: failed lists retried with backoff, watch streams split
// mid-line, bookmarks and nameless objects, ERROR events without a code, and a peer file rewritten
// only when the list changes. The API client here is a scripted mock of the two calls PeerDiscovery
// makes (request for the list, stream for the watch): the happy path runs against the EndpointSlice
// stand-in server in peer-discovery.test.ts.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../lib/log.js';
import { KubeApiError } from './kube-client.js';
import { PeerDiscovery, slicePeers } from './peer-discovery.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'peer-discovery-errors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until<T>(what: string, check: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function peersIn(file: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { peers: string[] }).peers.join();
  } catch {
    return undefined;
  }
}

const slice = (name: string | undefined, ip: string, node = 'n1'): unknown => ({
  metadata: name ? { name } : {},
  addressType: 'IPv4',
  ports: [{ name: 'peers', port: 9103 }],
  endpoints: [{ addresses: [ip], nodeName: node, conditions: { ready: true } }],
});

describe('slicePeers edge cases', () => {
  it('skips FQDN slices, slices without the port, terminating endpoints and missing fields; empty names pick the first port and keep every node', () => {
    const endpoints = [
      { addresses: ['10.0.0.1'], nodeName: 'n1' },
      { addresses: ['10.0.0.2'], nodeName: 'n2', conditions: { ready: true, terminating: true } },
      { nodeName: 'n3' },
      { addresses: ['10.0.0.4'], conditions: { ready: null } },
    ];
    expect(slicePeers({ ports: [{ port: 1 }, { name: 'b', port: 2 }], endpoints }, '', '')).toEqual(['10.0.0.1:1', '10.0.0.4:1']);
    expect(slicePeers({ ports: [{ port: 1 }, { name: 'b', port: 2 }], endpoints }, 'b', 'n1')).toEqual(['10.0.0.4:2']);
    expect(slicePeers({ addressType: 'FQDN', ports: [{ port: 1 }], endpoints: [{ addresses: ['peer.example'] }] }, '', '')).toEqual([]);
    expect(slicePeers({ ports: null, endpoints }, '', '')).toEqual([]);
    expect(slicePeers({ ports: [{ name: 'p' }], endpoints }, 'p', '')).toEqual([]);
    expect(slicePeers({ ports: [{ port: 1 }], endpoints: null }, '', '')).toEqual([]);
    expect(slicePeers({}, '', '')).toEqual([]);
  });
});

describe('PeerDiscovery with a misbehaving API', () => {
  it('retries a failed list, follows a watch split mid-line, ignores bookmarks and nameless objects, lists again after an ERROR event', async () => {
    const file = join(dir, 'peers.json');
    const calls: string[] = [];
    const lists: (() => unknown)[] = [
      () => {
        throw new KubeApiError(500, '{"kind":"Status","message":"etcdserver: leader changed"}', 'GET endpointslices');
      },
      () => ({ items: [slice(undefined, '10.0.0.99'), slice('s1', '10.0.0.1')] }),
      () => ({ metadata: { resourceVersion: '42' }, items: [slice('s1', '10.0.0.1'), slice('s3', '10.0.0.3', 'n3')] }),
    ];
    const watches: PassThrough[] = [];
    const client = {
      request: <T>(method: string, path: string): Promise<T> => {
        calls.push(`${method} ${path}`);
        const next = lists.shift() ?? (() => new Promise<never>(() => undefined));
        try {
          return Promise.resolve(next() as T);
        } catch (err) {
          return Promise.reject(err as Error);
        }
      },
      stream: (path: string): Promise<IncomingMessage> => {
        calls.push(`WATCH ${path}`);
        const s = new PassThrough();
        watches.push(s);
        return Promise.resolve(s as unknown as IncomingMessage);
      },
    };
    const d = new PeerDiscovery(client, { namespace: 'kube-system', service: 'nexcage peers', portName: 'peers', nodeName: 'self', file, retryInitialMs: 5, retryMaxMs: 20 }, log);
    const stop = new AbortController();
    const running = d.run(stop.signal);
    try {
      await until('the list after a failed one', () => (peersIn(file) === '10.0.0.1:9103' ? true : undefined));
      expect(calls.slice(0, 2)).toEqual([
        'GET /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dnexcage%20peers',
        'GET /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dnexcage%20peers',
      ]);
      const w = await until('the watch', () => watches[0]);
      // A list without a resourceVersion watches from "now".
      expect(calls[2]).toMatch(/&watch=1&allowWatchBookmarks=true&resourceVersion=$/);
      const written = statSync(file).ino;

      const added = JSON.stringify({ type: 'ADDED', object: slice('s2', '10.0.0.2', 'n2') });
      w.write(added.slice(0, 20));
      w.write(added.slice(20) + '\n\n' + JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '40' } } }) + '\n');
      await until('a slice added over a split line', () => (peersIn(file) === '10.0.0.1:9103,10.0.0.2:9103' ? true : undefined));
      // Replaced atomically (a new file), not written in place where the daemon could read half of it.
      expect(statSync(file).ino).not.toBe(written);

      // A nameless object is ignored (its address never shows up).
      w.write(JSON.stringify({ type: 'MODIFIED', object: slice(undefined, '10.0.0.77') }) + '\n');
      w.write(JSON.stringify({ type: 'MODIFIED', object: slice('s2', '10.0.0.2', 'n2') }) + '\n');
      w.write(JSON.stringify({ type: 'DELETED', object: slice('s1', '10.0.0.1') }) + '\n');
      await until('a deleted slice', () => (peersIn(file) === '10.0.0.2:9103' ? true : undefined));

      // An ERROR event without a code: a failure (backoff), then a fresh list from its resourceVersion.
      w.write(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', message: 'internal error' } }) + '\n');
      await until('the list after an ERROR event', () => (peersIn(file) === '10.0.0.1:9103,10.0.0.3:9103' ? true : undefined));
      await until('the second watch', () => watches[1]);
      expect(calls.at(-1)).toMatch(/&resourceVersion=42$/);
    } finally {
      stop.abort();
      for (const w of watches) w.end();
      await running;
    }
  });

  it('stops while waiting to retry', async () => {
    const file = join(dir, 'stopped.json');
    let lists = 0;
    const client = {
      request: (): Promise<never> => {
        lists++;
        return Promise.reject(new Error('connect ECONNREFUSED 10.96.0.1:443'));
      },
      stream: (): Promise<IncomingMessage> => Promise.reject(new Error('not reached')),
    };
    const d = new PeerDiscovery(client, { namespace: 'ns', service: 'svc', portName: '', nodeName: '', file, retryInitialMs: 60_000, retryMaxMs: 60_000 }, log);
    const stop = new AbortController();
    const running = d.run(stop.signal);
    await until('the first list', () => (lists === 1 ? true : undefined));
    const t0 = Date.now();
    stop.abort();
    await running;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(lists).toBe(1);
    expect(peersIn(file)).toBeUndefined();
  });
});
