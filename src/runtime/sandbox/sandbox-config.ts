// The domain shape of a pod sandbox request and record (camelCase mirror of CRI PodSandboxConfig,
// no protobuf). The persisted record keeps what was asked (config) apart from live status.
import type { LinuxContainerResources, NamespaceMode, SecurityProfile, SelinuxOption, UserNamespaceOption } from '../container/container-config.js';
import type { PodDns, PortMapping } from '../network/network-plugin.js';

export interface SandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface SandboxNamespaceOptions {
  network: NamespaceMode;
  pid: NamespaceMode;
  ipc: NamespaceMode;
  /** Unset or NODE: the host's user namespace; POD: the pod's own, with these mappings. */
  userns?: UserNamespaceOption;
}

export interface SandboxSecurity {
  privileged: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups: number[];
  readonlyRootfs: boolean;
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
  selinuxOptions?: SelinuxOption;
}

export interface SandboxConfig {
  metadata: SandboxMetadata;
  hostname: string;
  logDirectory: string;
  dns?: PodDns;
  portMappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  cgroupParent: string;
  sysctls: Record<string, string>;
  namespaceOptions: SandboxNamespaceOptions;
  security: SandboxSecurity;
  overhead?: LinuxContainerResources;
  resources?: LinuxContainerResources;
}

/** UNKNOWN: a RunPodSandbox whose undo failed; what is left is retried by Stop/Remove and in the background (CRI: NOTREADY). */
export type SandboxState = 'READY' | 'NOTREADY' | 'UNKNOWN';

/** Cleanup still owed for a pod (or container) whose creation failed and whose undo failed too. */
export interface PendingCleanup {
  /** What failed and what could not be undone. */
  reason: string;
  /** When the record was kept, ns since the epoch. */
  sinceNs: string;
}

/** What SandboxManager.get/list return (and persist): config + where things are + live status. */
export interface Sandbox {
  id: string;
  config: SandboxConfig;
  metadata: SandboxMetadata;
  runtimeHandler: string;
  /** Nanoseconds since the epoch, as a decimal string (int64 on the wire). */
  createdAtNs: string;
  state: SandboxState;
  hostNetwork: boolean;
  /** Pinned netns; undefined for host-network pods. */
  netnsPath?: string;
  bundle: string;
  /** The infra container's OCI linux.cgroupsPath. */
  cgroupsPath: string;
  cgroupParent: string;
  namespaceOptions: SandboxNamespaceOptions;
  hostname: string;
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
  /** The pod's /dev/shm tmpfs; undefined for host-IPC pods (they use the node's). */
  shmPath?: string;
  /** Infra process pid (0 once stopped) and its monitor's. */
  pid: number;
  monitorPid: number;
  ips: string[];
  network?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  sysctls: Record<string, string>;
  security: SandboxSecurity;
  /** Set once Stop tore the network down (then the IP is released). */
  networkDown: boolean;
  exitCode?: number;
  finishedAtNs?: string;
  /** Set while state is UNKNOWN: the cleanup still owed. */
  cleanup?: PendingCleanup;
}

export interface ContainerHooks {
  /** Stop every container of the pod (StopPodSandbox). */
  stopAll(sandboxId: string, timeoutSec: number): Promise<void>;
  /** Remove every container of the pod (RemovePodSandbox). */
  removeAll(sandboxId: string): Promise<void>;
  /** Told about pod lifecycle changes (GetContainerEvents carries sandbox events too). */
  sandboxEvent?(sandbox: Sandbox, type: 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED'): void;
}

export interface SandboxFilter {
  id?: string;
  state?: SandboxState;
  labelSelector?: Record<string, string>;
}
