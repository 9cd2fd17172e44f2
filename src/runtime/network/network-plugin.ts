// The pod network seam: set up / tear down / check one pod's network inside its pinned netns.
// Implemented by the CNI executor (cni/cni-network.ts). The caller never sees CNI types.

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** '' = all host addresses. */
  hostIP: string;
}

export interface PodDns {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface PodNetworkRequest {
  podId: string;
  netnsPath: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  portMappings: PortMapping[];
  dns?: PodDns;
  /** Requested IPs (capability `ips`), rarely used. */
  ips?: string[];
  /** `lo` is up already (the netns pin did it): no loopback plugin. */
  loopbackUp?: boolean;
}

export interface PodNetworkStatus {
  /** The pod's IPs without prefix length, the primary (first IPv4 if any) first. */
  ips: string[];
  /** Network (conflist) name used. */
  network: string;
}

export interface NetworkReadiness {
  ready: boolean;
  reason: string;
  message: string;
}

export interface NetworkPlugin {
  readiness(): Promise<NetworkReadiness>;
  setUp(req: PodNetworkRequest): Promise<PodNetworkStatus>;
  /** Runs DEL with the cached ADD result; works when the netns or the infra process is gone. */
  tearDown(podId: string, netnsPath: string): Promise<void>;
  check(podId: string, netnsPath: string): Promise<void>;
  /** Pod ids with cached network state (orphan cleanup at recovery). */
  cachedPods(): Promise<string[]>;
}
