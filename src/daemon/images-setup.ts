// Builds the image service from the daemon config: the registry client, content store,
// snapshotter and record store under <rootDir>, recovered before the socket is bound.
import { join } from 'node:path';
import type { Config } from './config-schema.js';
import type { Logger } from '../lib/log.js';
import { DistributionClient } from '../images/distribution-client.js';
import { ImageManager } from '../images/image-manager.js';
import { ImageStore } from '../images/image-store.js';
import { LocalContentStore } from '../images/local-content-store.js';
import { OverlaySnapshotter } from '../images/overlay-snapshotter.js';
import { PeerList } from '../images/peer-list.js';
import { PeerServer } from '../images/peer-server.js';
import { PeerRegistryClient } from '../images/peer-source.js';
import { PrivateDigests } from '../images/private-digests.js';
import { parseHostPort } from '../lib/http-endpoint.js';

export interface ImageService {
  manager: ImageManager;
  close(): void;
}

export async function createImageService(config: Config, log: Logger): Promise<ImageService> {
  // config.registry is passed live: a SIGHUP reload edits it in place (src/daemon/reload.ts).
  const distribution = new DistributionClient({ settings: config.registry, log });
  // Peers are asked for content by digest before mirrors and upstream (none configured: no peer asked).
  const privateDigests = new PrivateDigests(join(config.rootDir, 'peers-private.json'));
  await privateDigests.init();
  const registry = new PeerRegistryClient({
    inner: distribution,
    peers: new PeerList(config.peers, log),
    settings: config.peers,
    registrySettings: config.registry,
    privateDigests,
    log,
  });
  const content = new LocalContentStore(join(config.rootDir, 'content'));
  const snapshots = new OverlaySnapshotter(join(config.rootDir, 'snapshots'));
  const store = new ImageStore(join(config.rootDir, 'images'));
  await content.init();
  await snapshots.init();
  await store.init();
  const manager = new ImageManager({
    registry,
    content,
    snapshots,
    store,
    root: config.rootDir,
    log,
    maxConcurrentDownloads: () => config.registry.maxConcurrentDownloads,
    maxDecompressionRatio: () => config.registry.maxDecompressionRatio,
    minBlobRate: () => ({ bytesPerSecond: config.registry.minBlobBytesPerSecond, windowMs: config.registry.minBlobRateWindowSeconds * 1000 }),
    pinned: config.pauseImage ? [config.pauseImage] : [],
  });
  // Blobs and snapshots orphaned by a crash between unpack and record; partials stay to be resumed.
  await manager.gc(false);
  let peerServer: PeerServer | undefined;
  if (config.peers.listenAddress) {
    peerServer = new PeerServer({ content, store, privateDigests, settings: config.peers, log });
    const { host, port } = parseHostPort(config.peers.listenAddress);
    const bound = await peerServer.listen(host, port);
    log.info({ address: `${bound.host}:${bound.port}`, serveAuthenticated: config.peers.serveAuthenticated }, 'serving image content to peers');
  }
  return {
    manager,
    close: () => {
      registry.close();
      distribution.close();
      void peerServer?.close();
    },
  };
}
