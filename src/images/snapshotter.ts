// The seam for layer snapshots: one read-only directory per chain ID, unpacked once and shared by
// every image that has that layer stack. overlay-snapshotter.ts lays them out for overlayfs.
export interface Snapshot {
  chainId: string;
  diffId: string;
  /** Chain ID of the layer below; undefined for the bottom layer. */
  parent?: string;
  usedBytes: number;
  inodes: number;
  createdAt: string;
}

export interface SnapshotStats {
  usedBytes: number;
  inodes: number;
}

export interface Snapshotter {
  get(chainId: string): Snapshot | undefined;
  list(): Snapshot[];
  /** The directory holding the layer's files (an overlayfs lowerdir). */
  fsPath(chainId: string): string;
  /**
   * Create the snapshot by running `fill` on an empty directory; committed only if `fill`
   * succeeds, otherwise nothing is left. Concurrent calls for one chain ID share the work.
   */
  create(chainId: string, diffId: string, parent: string | undefined, fill: (dir: string) => Promise<SnapshotStats>): Promise<Snapshot>;
  remove(chainId: string): Promise<void>;
}
