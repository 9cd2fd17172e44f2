// The seams between the stats code and the stores that own pods and containers. The sandbox and
// container services implement these from their in-memory records (no disk, no child process: the
// kubelet polls stats every few seconds); StatsService does the reading.

export interface StatsSandboxInfo {
  id: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** SANDBOX_READY: the infra process runs. Pods that are not ready have no live stats. */
  ready: boolean;
  /**
   * The CRI linux.cgroup_parent as the kubelet sent it ("/kubepods/burstable/pod<uid>" for
   * cgroupfs, "kubepods-burstable-pod<uid>.slice" for systemd); "" when none was given: the pod's
   * figures are then the sum of its infra and container cgroups.
   */
  cgroupParent: string;
  /** The infra container's OCI linux.cgroupsPath, exactly as written to its config.json. */
  infraCgroupsPath?: string;
  /** The infra process (its /proc/<pid>/net/dev is the pod's network). */
  infraPid?: number;
  /** The pinned network namespace; undefined for host-network pods (no pod network stats then). */
  netnsPath?: string;
}

export interface SandboxStatsSource {
  listSandboxes(): StatsSandboxInfo[];
  /** By full id or unique prefix; undefined when unknown. */
  getSandbox(id: string): StatsSandboxInfo | undefined;
}

export type StatsContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface StatsContainerInfo {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The image as the user asked for it (the `image` label of the metrics). */
  image: string;
  state: StatsContainerState;
  /** The container's OCI linux.cgroupsPath, exactly as written to its config.json. */
  cgroupsPath: string;
  /** The writable layer (overlay upper dir); undefined when the rootfs has none. */
  upperDir?: string;
}

export interface ContainerStatsSource {
  listContainers(): StatsContainerInfo[];
  /** By full id or unique prefix; undefined when unknown. */
  getContainer(id: string): StatsContainerInfo | undefined;
}
