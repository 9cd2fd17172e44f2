// A RegistryClient that asks peer nodes for content by digest before the registry's own endpoints
// (mirrors, then upstream). A few peers per blob, picked by rendezvous hashing so the nodes of a
// rollout spread over each other; a short connect timeout and fast fallback. Every peer byte is
// verified: a blob's last chunk is held back until the whole blob's sha256 matches, so a peer's
// wrong bytes never complete a download; that peer is then skipped for a while and the blob is
// fetched again from byte 0 elsewhere (the content store restarts a source that starts at 0).
// Tags always resolve through the registry: only content named by digest comes from peers.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { NexcageError, UnavailableError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Credentials } from './credentials.js';
import { sha256 } from './digest.js';
import { endpointsFor, type EndpointConfig } from './endpoints.js';
import { MAX_MANIFEST_BYTES, readBody } from './distribution-client.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { blobSourceBytes, blobSourceFetches, peerFailures } from './peer-metrics.js';
import type { PeerList } from './peer-list.js';
import type { PrivateDigests } from './private-digests.js';
import type { ImageReference } from './reference.js';
import type { BlobResponse, ManifestResponse, RegistryClient, RepositoryClient } from './registry-client.js';

// Loaded as CommonJS: an ESM import of node:http evaluates every export, and its lazy WebSocket/fetch
// getters load undici (~3 MB of RSS the daemon never uses).
const { Agent, request } = process.getBuiltinModule('node:http');

export interface PeerFetchSettings {
  fetchFrom: number;
  connectTimeoutMs: number;
  /** A tag resolves through peers when every registry endpoint is unreachable. */
  tagsWhenUpstreamDown: boolean;
}

export interface PeerRegistryOptions {
  inner: RegistryClient & { fileCredentials(host: string): Promise<Credentials | undefined> };
  peers: Pick<PeerList, 'peers'>;
  /** Read on every use (config reload). */
  settings: PeerFetchSettings;
  registrySettings: EndpointConfig;
  privateDigests: Pick<PrivateDigests, 'add'>;
  log: Logger;
  /** How long a peer that served wrong bytes is skipped. */
  badPeerMs?: number;
  /** How long an unreachable peer is skipped. */
  downPeerMs?: number;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export class PeerRegistryClient implements RegistryClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });
  /** Peer -> until when it is skipped. */
  private readonly benched = new Map<string, number>();
  /** Blobs whose partial download holds peer bytes not yet verified: the next source starts at 0. */
  readonly unverified = new Set<string>();

  constructor(readonly o: PeerRegistryOptions) {}

  repository(ref: ImageReference, credentials?: Credentials): RepositoryClient {
    return new PeerRepository(this, ref, credentials, this.o.inner.repository(ref, credentials));
  }

  close(): void {
    this.agent.destroy();
  }

  bench(peer: string, ms: number, reason: string): void {
    this.benched.set(peer, Date.now() + ms);
    peerFailures.inc({ reason });
  }

  /** Up to fetchFrom peers for this digest, in an order every node computes alike for it. */
  async candidates(digest: string): Promise<string[]> {
    const n = this.o.settings.fetchFrom;
    if (n <= 0) return [];
    const now = Date.now();
    const all = (await this.o.peers.peers()).filter((p) => (this.benched.get(p) ?? 0) <= now);
    const score = (p: string): string => createHash('sha256').update(`${p}|${digest}`).digest('hex');
    return all.map((p) => ({ p, s: score(p) })).sort((a, b) => (a.s < b.s ? -1 : 1)).slice(0, n).map((x) => x.p);
  }

  /** One GET to a peer; resolves with a 2xx response, or undefined when the peer has nothing for us. */
  get(peer: string, path: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage | undefined> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.o.settings.connectTimeoutMs);
    const sig = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
    return new Promise<IncomingMessage | undefined>((resolve) => {
      const req = request(`http://${peer}${path}`, { headers: { 'user-agent': 'nexcage-peer', ...headers }, agent: this.agent, signal: sig }, (res) => {
        clearTimeout(timer);
        if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) {
          // A peer that stops sending mid-body is dropped like any stalled source.
          res.socket.setTimeout(Math.max(5_000, this.o.settings.connectTimeoutMs * 5), () => res.destroy(new Error('peer stopped sending')));
          return resolve(res);
        }
        res.resume();
        // Busy (its upload slots are taken) is no fault: ask the next source, and this peer again next time.
        if (res.statusCode === 404) peerFailures.inc({ reason: 'not_found' });
        else if (res.statusCode === 429 || res.statusCode === 503) peerFailures.inc({ reason: 'busy' });
        else this.bench(peer, this.o.downPeerMs ?? 30_000, 'error');
        resolve(undefined);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        if (signal?.aborted) return resolve(undefined);
        this.o.log.debug({ peer, path, error: errorMessage(err) }, 'peer unreachable, skipping it for a while');
        this.bench(peer, this.o.downPeerMs ?? 30_000, 'unreachable');
        resolve(undefined);
      });
      req.end();
    });
  }

  /** 'mirror' or 'upstream', from the endpoint that served. */
  sourceOf(ref: ImageReference, endpoint: string): 'mirror' | 'upstream' {
    return endpointsFor(ref.registry, this.o.registrySettings).some((e) => e.mirror && e.base === endpoint) ? 'mirror' : 'upstream';
  }
}

class PeerRepository implements RepositoryClient {
  private privateCheck: Promise<boolean> | undefined;

  constructor(
    private readonly c: PeerRegistryClient,
    private readonly ref: ImageReference,
    private readonly creds: Credentials | undefined,
    private readonly inner: RepositoryClient,
  ) {}

  /** A pull with credentials (given, or found in the credentials file) fetches private content. */
  private async markIfPrivate(digest: string): Promise<void> {
    this.privateCheck ??= this.creds ? Promise.resolve(true) : this.c.o.inner.fileCredentials(this.ref.registry).then((x) => x !== undefined, () => true);
    if (await this.privateCheck) await this.c.o.privateDigests.add(digest);
  }

  async getManifest(reference: string, signal?: AbortSignal): Promise<ManifestResponse> {
    if (DIGEST.test(reference)) {
      for (const peer of await this.c.candidates(reference)) {
        const res = await this.c.get(peer, `/v2/${this.ref.repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, signal);
        if (!res) continue;
        try {
          const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest ${reference} from peer ${peer}`, this.c.o.settings.connectTimeoutMs * 5);
          const digest = sha256(bytes);
          if (digest !== reference) {
            this.c.o.log.warn({ peer, expected: reference, got: digest }, 'peer served a manifest with the wrong digest, skipping it for a while');
            this.c.bench(peer, this.c.o.badPeerMs ?? 600_000, 'bad_digest');
            continue;
          }
          await this.markIfPrivate(digest);
          return { bytes, contentType: res.headers['content-type'], digest, endpoint: `peer:http://${peer}` };
        } catch (err) {
          this.c.bench(peer, this.c.o.downPeerMs ?? 30_000, 'error');
          this.c.o.log.debug({ peer, error: errorMessage(err) }, 'peer manifest fetch failed');
        }
      }
    }
    let m: ManifestResponse;
    try {
      m = await this.inner.getManifest(reference, signal);
    } catch (err) {
      // Only an unreachable registry (not a refusal or a missing tag) falls back to peers.
      const unreachable = err instanceof UnavailableError || !(err instanceof NexcageError);
      if (DIGEST.test(reference) || !unreachable || !this.c.o.settings.tagsWhenUpstreamDown || signal?.aborted) throw err;
      const viaPeer = await this.tagFromPeers(reference, signal);
      if (!viaPeer) throw err;
      m = viaPeer;
    }
    await this.markIfPrivate(m.digest);
    return m;
  }

  private async tagFromPeers(tag: string, signal: AbortSignal | undefined): Promise<ManifestResponse | undefined> {
    const ns = encodeURIComponent(this.ref.registry);
    for (const peer of await this.c.candidates(`${this.ref.registry}/${this.ref.repository}:${tag}`)) {
      const res = await this.c.get(peer, `/v2/${this.ref.repository}/manifests/${tag}?ns=${ns}`, { accept: MANIFEST_ACCEPT }, signal);
      if (!res) continue;
      try {
        const bytes = await readBody(res, MAX_MANIFEST_BYTES, `manifest ${tag} from peer ${peer}`, this.c.o.settings.connectTimeoutMs * 5);
        const digest = sha256(bytes);
        this.c.o.log.warn({ ref: `${this.ref.registry}/${this.ref.repository}:${tag}`, peer, digest }, 'registry unreachable: tag resolved through a peer');
        return { bytes, contentType: res.headers['content-type'], digest, endpoint: `peer:http://${peer}` };
      } catch (err) {
        this.c.o.log.debug({ peer, error: errorMessage(err) }, 'peer tag lookup failed');
      }
    }
    return undefined;
  }

  async openBlob(digest: string, offset: number, expectedSize: number, signal?: AbortSignal): Promise<BlobResponse> {
    await this.markIfPrivate(digest);
    if (offset === 0 && DIGEST.test(digest)) {
      for (const peer of await this.c.candidates(digest)) {
        const res = await this.c.get(peer, `/v2/${this.ref.repository}/blobs/${digest}`, {}, signal);
        if (!res) continue;
        this.c.unverified.add(digest);
        blobSourceFetches.inc({ source: 'peer' });
        this.c.o.log.info({ ref: `${this.ref.registry}/${this.ref.repository}`, digest, source: 'peer', endpoint: peer, bytes: expectedSize }, 'blob source: peer');
        const verify = new VerifyDigest(digest, expectedSize);
        pipeline(res, verify, (err) => {
          if (!err) {
            this.c.unverified.delete(digest);
            return;
          }
          if (err instanceof WrongDigest) {
            this.c.o.log.warn({ peer, digest, error: err.message }, 'peer served wrong bytes, skipping it for a while');
            this.c.bench(peer, this.c.o.badPeerMs ?? 600_000, 'bad_digest');
          } else if (!signal?.aborted) {
            this.c.o.log.info({ peer, digest, error: errorMessage(err) }, 'peer blob transfer failed, falling back');
            this.c.bench(peer, this.c.o.downPeerMs ?? 30_000, 'error');
          }
        });
        return { body: verify as unknown as BlobResponse['body'], start: 0, endpoint: `peer:http://${peer}` };
      }
    }
    // Peer bytes already in the partial were never verified: start the blob over.
    const from = this.c.unverified.has(digest) ? 0 : offset;
    this.c.unverified.delete(digest);
    const b = await this.inner.openBlob(digest, from, expectedSize, signal);
    const source = this.c.sourceOf(this.ref, b.endpoint);
    blobSourceFetches.inc({ source });
    blobSourceBytes.inc({ source }, Math.max(0, expectedSize - b.start));
    this.c.o.log.info({ ref: `${this.ref.registry}/${this.ref.repository}`, digest, source, endpoint: b.endpoint, offset: b.start }, `blob source: ${source}`);
    return b;
  }
}

class WrongDigest extends UnavailableError {}

/** Passes a peer's blob through, holding the last chunk back until size and sha256 match. */
class VerifyDigest extends Transform {
  private readonly hash = createHash('sha256');
  private n = 0;
  private held: Buffer | undefined;

  constructor(
    private readonly digest: string,
    private readonly size: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.n += chunk.length;
    if (this.n > this.size) return cb(new WrongDigest(`peer sent more than the ${this.size} bytes of ${this.digest}`));
    this.hash.update(chunk);
    blobSourceBytes.inc({ source: 'peer' }, chunk.length);
    if (this.held) this.push(this.held);
    this.held = chunk;
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.n !== this.size) return cb(new UnavailableError(`peer sent ${this.n} of the ${this.size} bytes of ${this.digest}`));
    const got = `sha256:${this.hash.digest('hex')}`;
    if (got !== this.digest) return cb(new WrongDigest(`peer sent bytes with digest ${got}, not ${this.digest}`));
    if (this.held) this.push(this.held);
    cb();
  }
}
