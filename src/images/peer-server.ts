// Serves this node's content store to peers, read-only, as the pull side of the OCI distribution
// API: GET/HEAD /v2/<name>/manifests/<digest> and /v2/<name>/blobs/<digest> (with Range), by digest
// only. A digest is served only when an image in the store references it (its index, manifest,
// config or a layer) and, unless serveAuthenticated, was not fetched with credentials; the name in
// the path is not trusted for anything. Responses at once are bounded overall and per peer, and a
// peer reading slower than the floor is cut off.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../lib/log.js';
import type { ContentStore } from './content-store.js';
import type { ImageStore } from './image-store.js';
import { peerServedBytes, peerServedPeers, peerServedRequests } from './peer-metrics.js';
import type { PrivateDigests } from './private-digests.js';

// Loaded as CommonJS: an ESM import of node:http evaluates every export, and its lazy WebSocket/fetch
// getters load undici (~3 MB of RSS the daemon never uses).
const { createServer } = process.getBuiltinModule('node:http');

export interface PeerServerSettings {
  serveAuthenticated: boolean;
  maxUploads: number;
  minUploadBytesPerSecond: number;
}

export interface PeerServerOptions {
  content: Pick<ContentStore, 'path'>;
  store: Pick<ImageStore, 'list'>;
  privateDigests: Pick<PrivateDigests, 'has'>;
  /** Read on every request: a config reload takes effect. */
  settings: PeerServerSettings;
  log: Logger;
  /** Rate floor window (tests shorten it). */
  rateWindowMs?: number;
}

// A name is components joined by exactly one '/': an optional slash inside a repeated group
// backtracks exponentially on a long path that does not match, freezing the daemon.
const PATH = /^\/v2\/([a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)\/(manifests|blobs)\/(sha256:[a-f0-9]{64})$/;
const TAG_PATH = /^\/v2\/([a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)\/manifests\/([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$/;
const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';

export class PeerServer {
  private server: Server | undefined;
  private uploads = 0;
  private readonly perPeer = new Map<string, number>();
  private readonly seen = new Set<string>();

  constructor(private readonly o: PeerServerOptions) {}

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => this.handle(req, res));
    // A peer that sends no request, or holds an idle connection, is dropped.
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    server.keepAliveTimeout = 5_000;
    server.setTimeout(30_000, (socket) => socket.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    return { host, port: typeof addr === 'object' && addr ? addr.port : port };
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    this.server = undefined;
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  }

  /** Digest -> content type for everything shareable now. */
  private shareable(): Map<string, string | undefined> {
    const out = new Map<string, string | undefined>();
    const privateOk = this.o.settings.serveAuthenticated;
    for (const rec of this.o.store.list()) {
      if (!privateOk && (this.o.privateDigests.has(rec.manifestDigest) || (rec.indexDigest && this.o.privateDigests.has(rec.indexDigest)))) continue;
      const add = (d: string, type?: string): void => {
        if (privateOk || !this.o.privateDigests.has(d)) out.set(d, type);
      };
      add(rec.manifestDigest, rec.manifestMediaType);
      if (rec.indexDigest) add(rec.indexDigest, INDEX_TYPE);
      add(rec.id);
      for (const l of rec.layers) add(l.digest);
    }
    return out;
  }

  /** The manifest (or index) digest an image held here was pulled under, by its full repo tag. */
  private tagged(repoTag: string): string | undefined {
    const rec = this.o.store.list().find((r) => r.repoTags.includes(repoTag));
    return rec ? (rec.indexDigest ?? rec.manifestDigest) : undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const peer = req.socket.remoteAddress ?? 'unknown';
    if (!this.seen.has(peer)) {
      this.seen.add(peer);
      peerServedPeers.inc();
    }
    const reply = (code: number, result: string, msg: string): void => {
      peerServedRequests.inc({ result });
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ errors: [{ code: result.toUpperCase(), message: msg }] }) + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'refused', 'read-only');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/v2/' || path === '/v2') {
      peerServedRequests.inc({ result: 'ok' });
      res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' });
      return void res.end();
    }
    const share = this.shareable();
    const byTag = TAG_PATH.exec(path);
    // A tag (asked for only by peers whose registry is unreachable): ?ns= names the registry, as
    // for containerd mirrors; it resolves to what this node pulled under that name.
    const tagged = byTag ? this.tagged(`${new URL(req.url ?? '/', 'http://x').searchParams.get('ns') ?? ''}/${byTag[1]}:${byTag[2]}`) : undefined;
    const m = PATH.exec(path) ?? (tagged ? [path, byTag?.[1], 'manifests', tagged] : null);
    if (!m) return reply(404, 'not_found', 'only /v2/<name>/{manifests,blobs}/<sha256 digest> and tags of images held here are served');
    const digest = m[3] as string;
    if (!share.has(digest)) return reply(404, 'not_found', `${digest} is not shared by this node`);
    const max = this.o.settings.maxUploads;
    const held = this.perPeer.get(peer) ?? 0;
    if (this.uploads >= max) return reply(503, 'busy', 'too many uploads at once');
    if (held >= Math.max(1, Math.floor(max / 4))) return reply(429, 'busy', 'too many uploads to this peer at once');
    this.uploads++;
    this.perPeer.set(peer, held + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.uploads--;
      const n = (this.perPeer.get(peer) ?? 1) - 1;
      if (n <= 0) this.perPeer.delete(peer);
      else this.perPeer.set(peer, n);
    };
    res.once('close', release);
    this.send(req, res, digest, m[2] === 'manifests' ? manifestType(share.get(digest)) : 'application/octet-stream').catch((err: unknown) => {
      this.o.log.debug({ err, digest, peer }, 'peer request failed');
      if (!res.headersSent) reply(404, 'not_found', `${digest} is not available`);
      else res.destroy();
    });
  }

  private async send(req: IncomingMessage, res: ServerResponse, digest: string, type: string): Promise<void> {
    const file = this.o.content.path(digest);
    const size = (await stat(file)).size;
    let start = 0;
    let end = size - 1;
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    const headers: Record<string, string | number> = { 'content-type': type, 'docker-content-digest': digest, 'accept-ranges': 'bytes', etag: `"${digest}"` };
    let code = 200;
    if (range && (range[1] !== '' || range[2] !== '')) {
      if (range[1] === '') {
        start = Math.max(0, size - Number(range[2]));
      } else {
        start = Number(range[1]);
        if (range[2] !== '') end = Math.min(end, Number(range[2]));
      }
      if (start > end || start >= size) {
        peerServedRequests.inc({ result: 'refused' });
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        return void res.end();
      }
      code = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = end - start + 1;
    res.writeHead(code, headers);
    if (req.method === 'HEAD' || size === 0) {
      peerServedRequests.inc({ result: 'ok' });
      return void res.end();
    }
    const floor = this.o.settings.minUploadBytesPerSecond;
    const windowMs = this.o.rateWindowMs ?? 10_000;
    let sent = 0;
    let windowStart = 0;
    const timer = floor > 0 ? setInterval(() => {
      // A peer reading slower than the floor holds an upload slot for nothing: cut it off.
      if (sent - windowStart < (floor * windowMs) / 1000) {
        peerServedRequests.inc({ result: 'cut_off' });
        res.destroy();
      }
      windowStart = sent;
    }, windowMs) : undefined;
    timer?.unref();
    const stream = createReadStream(file, { start, end });
    stream.on('data', (c) => {
      sent += c.length;
      peerServedBytes.inc(c.length);
    });
    res.once('close', () => {
      clearInterval(timer);
      stream.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      stream.once('error', reject);
      res.once('finish', () => {
        peerServedRequests.inc({ result: 'ok' });
        resolve();
      });
      res.once('close', resolve);
      stream.pipe(res);
    });
  }
}

function manifestType(t: string | undefined): string {
  return t ?? 'application/vnd.oci.image.manifest.v1+json';
}
