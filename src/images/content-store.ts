// The seam for blob storage: content addressed by sha256, written through an ingest file and
// committed only when size and digest match. local-content-store.ts keeps it on the filesystem.
import type { GrowingBlob } from './growing-blob.js';
import type { RateFloor } from './transfer-rate.js';

export interface BlobBody {
  body: AsyncIterable<Buffer> & { destroy(err?: Error): void };
  /** Offset of the first byte of `body` (0 when the source ignored the requested offset). */
  start: number;
  /** Where the bytes come from (a registry endpoint), for messages. */
  origin?: string;
  /**
   * The body's chunks are nobody else's (an HTTP response's body chunks are fresh copies): the store
   * frees each one's memory as soon as it is written, instead of leaving it to the garbage collector.
   */
  owned?: boolean;
}

/**
 * Opens the blob's bytes from `offset` on; called again after a dropped connection. `signal`
 * fires when every caller of the download has gone: the source must then stop (close its request).
 */
export type BlobSource = (offset: number, signal: AbortSignal) => Promise<BlobBody>;

export interface IngestOptions {
  /** Counted as they arrive (for metrics and progress). */
  onBytes?: (n: number) => void;
  /** Consecutive failed attempts without progress before giving up. */
  attempts?: number;
  backoffMs?: number;
  /** A connection slower than this on average is dropped and resumed; it counts as a failed attempt. */
  minRate?: RateFloor;
  /** This caller went away; the download stops when every caller of it has (its partial stays). */
  signal?: AbortSignal;
  /** Handed the blob as it is being written (at once, before any byte), to read it behind the download. */
  onBlob?: (blob: GrowingBlob) => void;
}

export interface IngestResult {
  /** false when the blob was already in the store. */
  fetched: boolean;
  /** Bytes that came over the network this time. */
  bytesFetched: number;
  /** The download continued from an earlier partial (crash or dropped connection). */
  resumed: boolean;
}

export interface ContentStore {
  path(digest: string): string;
  has(digest: string): Promise<boolean>;
  /** A committed blob's bytes (refuses blobs over `maxBytes`). */
  read(digest: string, maxBytes: number): Promise<Buffer>;
  /** Store bytes already in memory, after checking their digest. */
  put(digest: string, bytes: Uint8Array): Promise<void>;
  /** Download into the store; concurrent ingests of one digest share one download (and its floor and backoff settings). */
  ingest(desc: { digest: string; size: number }, source: BlobSource, opts?: IngestOptions): Promise<IngestResult>;
  delete(digest: string): Promise<void>;
  list(): Promise<string[]>;
  /** Bytes and inodes used by blobs and partial downloads. */
  usage(): Promise<{ bytes: number; inodes: number }>;
}
