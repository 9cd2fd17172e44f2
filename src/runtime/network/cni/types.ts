// The CNI 1.x shapes nexcage reads and writes (spec: containernetworking/cni SPEC.md).

export interface PluginConf {
  type: string;
  /** Capability args the plugin accepts through runtimeConfig (portMappings, dns, ips, ...). */
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface NetworkConfigList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: PluginConf[];
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export interface CniError {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

/** What is kept on disk per pod: enough to run DEL/CHECK exactly as ADD ran, config included. */
export interface CachedNetwork {
  podId: string;
  netnsPath: string;
  ifName: string;
  cniArgs: string;
  config: NetworkConfigList;
  runtimeConfig: Record<string, unknown>;
  /** Undefined while ADD is in flight (a crash then still leaves enough for DEL). */
  result?: CniResult;
}
