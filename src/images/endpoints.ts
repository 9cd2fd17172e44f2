// Where a registry host is reached: its configured mirrors in order, then the host itself.
// Plain HTTP only for hosts configured insecure and for loopback; Docker Hub lives at registry-1.
export interface Endpoint {
  /** `http://127.0.0.1:5000` or `https://registry-1.docker.io`, plus an optional path prefix. */
  base: string;
  /** host[:port] of the endpoint, used for credentials and insecure checks. */
  host: string;
  mirror: boolean;
  /** TLS without certificate verification (insecure hosts reached over https). */
  skipVerify: boolean;
}

export interface EndpointConfig {
  mirrors: Record<string, string[]>;
  insecure: string[];
}

export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export function endpointsFor(registry: string, cfg: EndpointConfig): Endpoint[] {
  const out: Endpoint[] = [];
  for (const m of cfg.mirrors[registry] ?? []) out.push(parseEndpoint(m, cfg, true));
  const upstreamHost = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
  const insecure = cfg.insecure.includes(registry) || isLoopback(registry);
  out.push({ base: `${insecure ? 'http' : 'https'}://${upstreamHost}`, host: registry, mirror: false, skipVerify: false });
  return out;
}

function parseEndpoint(spec: string, cfg: EndpointConfig, mirror: boolean): Endpoint {
  let m = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(spec);
  if (!m) {
    // No scheme: https, unless the host is loopback or configured insecure.
    const host = spec.split('/')[0] as string;
    const plain = cfg.insecure.includes(host) || isLoopback(host);
    m = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(`${plain ? 'http' : 'https'}://${spec}`) as RegExpExecArray;
  }
  const host = m[2] as string;
  const prefix = (m[3] ?? '').replace(/\/+$/, '').replace(/\/v2$/, '');
  const skipVerify = m[1] === 'https' && cfg.insecure.includes(host);
  return { base: `${m[1]}://${host}${prefix}`, host, mirror, skipVerify };
}
