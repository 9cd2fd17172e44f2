// The seam between a pull and the network: a RegistryClient hands out per-repository clients that
// fetch manifests and blobs (with auth, mirrors and retries inside). distribution-client.ts is the
// implementation over the OCI distribution API.
import type { Readable } from 'node:stream';
import type { Credentials } from './credentials.js';
import type { ImageReference } from './reference.js';

export interface ManifestResponse {
  bytes: Buffer;
  /** Content-Type as served (may be absent or generic). */
  contentType: string | undefined;
  /** sha256 of the bytes, computed here. */
  digest: string;
  /** Endpoint that served it (a mirror or the registry itself). */
  endpoint: string;
}

export interface BlobResponse {
  body: Readable;
  /** Offset of the first body byte: the requested offset, or 0 when the server ignored Range. */
  start: number;
  endpoint: string;
}

/** `signal`: the pull's callers have all gone; open requests are destroyed and nothing is retried. */
export interface RepositoryClient {
  /** A manifest or index by tag or digest. */
  getManifest(reference: string, signal?: AbortSignal): Promise<ManifestResponse>;
  /** Blob bytes from `offset` on (HTTP Range when offset > 0). */
  openBlob(digest: string, offset: number, expectedSize: number, signal?: AbortSignal): Promise<BlobResponse>;
}

export interface RegistryClient {
  repository(ref: ImageReference, credentials?: Credentials): RepositoryClient;
}
