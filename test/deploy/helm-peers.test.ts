// The chart's peer sharing values: off by default (nothing added), and when on a headless Service
// over the agent pods' host-network peer port, EndpointSlice list/watch in RBAC, and agent flags
// the agent itself accepts.
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAgentOptions } from '../../src/agent/options.js';
import { renderChart } from '../support/helm-subset.js';

const CHART = join(resolve(import.meta.dirname, '../..'), 'deploy/helm/nexcage');
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const find = (objects: Obj[], kind: string, name?: string): Obj | undefined => objects.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));

describe('chart peers values', () => {
  it('adds nothing by default', () => {
    const r = renderChart(CHART, { values: [] });
    const ds = find(r.objects, 'DaemonSet') as Obj;
    expect(ds.spec.template.spec.hostNetwork).toBeUndefined();
    expect(r.objects.filter((o) => o.kind === 'Service')).toEqual([]);
    expect(JSON.stringify(r.objects)).not.toContain('endpointslices');
    expect(JSON.stringify(ds)).not.toContain('--peers');
  });

  it('when enabled: headless Service, host network, peer port, RBAC for EndpointSlices, agent flags and the host dir', () => {
    const r = renderChart(CHART, { values: [{ peers: { enabled: true, port: 9200, hostDir: '/run/nexcage/p' } }] });
    const ds = find(r.objects, 'DaemonSet') as Obj;
    const svc = find(r.objects, 'Service') as Obj;
    expect(svc.metadata.name).toBe(`${ds.metadata.name}-peers`);
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.ports).toEqual([{ name: 'peers', port: 9200, targetPort: 'peers', protocol: 'TCP' }]);
    expect(svc.spec.selector).toEqual(ds.spec.selector.matchLabels);
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    const c = pod.containers[0];
    expect(c.ports).toContainEqual({ name: 'peers', containerPort: 9200, protocol: 'TCP' });
    expect(c.volumeMounts).toContainEqual({ name: 'nexcage-peers', mountPath: '/run/nexcage/peers' });
    expect(pod.volumes).toContainEqual({ name: 'nexcage-peers', hostPath: { path: '/run/nexcage/p', type: 'Directory' } });
    const rules = r.objects.filter((o) => o.kind === 'ClusterRole').flatMap((o) => o.rules as Obj[]);
    expect(rules).toContainEqual({ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] });
    const opts = parseAgentOptions(c.args.slice(1), { NODE_NAME: 'n1' });
    expect(opts?.peersService).toBe(svc.metadata.name);
    expect(opts?.peersNamespace).toBe(svc.metadata.namespace);
    expect(opts?.peersPortName).toBe('peers');
    expect(opts?.peersFile).toBe('/run/nexcage/peers/peers.json');
  });
});
