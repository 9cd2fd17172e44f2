// The Helm chart deploy/helm/nexcage rendered by test/support/helm-subset.ts, which STANDS IN FOR
// `helm template` (no helm binary can be installed here): the chart keeps to the documented
// subset of Helm's template language, values are checked against values.schema.json as helm
// does, and every rendered object is checked for its apiVersion, kind and required fields.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseAgentOptions } from '../../src/agent/options.js';
import { renderChart, type RenderedChart } from '../support/helm-subset.js';

const REPO = resolve(import.meta.dirname, '../..');
const CHART = join(REPO, 'deploy/helm/nexcage');
const ALL_VALUES = parseYaml(readFileSync(join(import.meta.dirname, 'values-all.yaml'), 'utf8')) as Record<string, unknown>;

type Obj = Record<string, unknown>;
type K8s = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: unknown };

const KINDS: Record<string, { apiVersion: string; namespaced: boolean; required: string[] }> = {
  DaemonSet: { apiVersion: 'apps/v1', namespaced: true, required: ['spec.selector.matchLabels', 'spec.template.metadata.labels', 'spec.template.spec.containers'] },
  ServiceAccount: { apiVersion: 'v1', namespaced: true, required: [] },
  ClusterRole: { apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: false, required: ['rules'] },
  ClusterRoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: false, required: ['roleRef.apiGroup', 'roleRef.kind', 'roleRef.name', 'subjects'] },
  Service: { apiVersion: 'v1', namespaced: true, required: ['spec.ports', 'spec.selector'] },
  ServiceMonitor: { apiVersion: 'monitoring.coreos.com/v1', namespaced: true, required: ['spec.selector', 'spec.endpoints'] },
};
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function at(o: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);
}

/** Structural checks every object must pass (what the API server's validation would reject). */
function checkObject(o: K8s): void {
  const kind = KINDS[o.kind];
  expect(kind, `unexpected kind ${o.kind}`).toBeDefined();
  expect(o.apiVersion, `${o.kind} apiVersion`).toBe(kind!.apiVersion);
  expect(o.metadata?.name, `${o.kind} metadata.name`).toMatch(DNS_SUBDOMAIN);
  expect(o.metadata.name.length).toBeLessThanOrEqual(63);
  if (kind!.namespaced) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name} namespace`).toBeTruthy();
  else expect(o.metadata.namespace, `${o.kind} is cluster-scoped`).toBeUndefined();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    expect(typeof v, `label ${k} must be a string`).toBe('string');
    expect(v, `label ${k}`).toMatch(LABEL_VALUE);
  }
  for (const v of Object.values(o.metadata.annotations ?? {})) expect(typeof v).toBe('string');
  for (const path of kind!.required) {
    const v = at(o, path);
    expect(v, `${o.kind}/${o.metadata.name}: ${path} is required`).toBeDefined();
    if (Array.isArray(v) || (v && typeof v === 'object')) expect(Object.keys(v as object).length, `${o.kind}: ${path} must not be empty`).toBeGreaterThan(0);
  }
}

function byKind(r: RenderedChart, kind: string): K8s[] {
  return (r.objects as K8s[]).filter((o) => o.kind === kind);
}

interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: unknown }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: Obj;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: Obj;
}
interface PodSpec {
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string; type: string } }[];
  serviceAccountName: string;
  hostPID: boolean;
  [k: string]: unknown;
}

/** Checks that tie objects together: selectors, ports, volumes, the ServiceAccount, RBAC. */
function checkConsistency(r: RenderedChart): void {
  for (const o of r.objects as K8s[]) checkObject(o);
  const [ds] = byKind(r, 'DaemonSet');
  const tpl = at(ds, 'spec.template') as { metadata: { labels: Record<string, string> }; spec: PodSpec };
  const selector = at(ds, 'spec.selector.matchLabels') as Record<string, string>;
  for (const [k, v] of Object.entries(selector)) expect(tpl.metadata.labels[k], `pod label ${k} matches the selector`).toBe(v);
  for (const c of tpl.spec.containers) {
    expect(c.name).toBeTruthy();
    expect(c.image).toMatch(/^[^\s:]+(:[^\s]+)?$/);
    const portNames = c.ports.map((p) => p.name);
    expect(portNames).toContain(c.livenessProbe.httpGet.port);
    expect(portNames).toContain(c.readinessProbe.httpGet.port);
    for (const m of c.volumeMounts) expect(tpl.spec.volumes.map((v) => v.name), `volume ${m.name}`).toContain(m.name);
    // Least privilege: no privileged mode, no capabilities, no escalation, read-only root.
    expect(c.securityContext).toEqual({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.args[0]).toBe('agent');
    // The chart's flags are ones the agent accepts.
    const env = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(() => parseAgentOptions(c.args.slice(1), { ...env, NODE_NAME: 'node-1' })).not.toThrow();
    expect(c.env.find((e) => e.name === 'NODE_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
  }
  const sas = byKind(r, 'ServiceAccount');
  if (sas.length > 0) expect(sas.map((s) => s.metadata.name)).toContain(tpl.spec.serviceAccountName);
  for (const b of byKind(r, 'ClusterRoleBinding')) {
    expect(byKind(r, 'ClusterRole').map((c) => c.metadata.name)).toContain(at(b, 'roleRef.name'));
    expect(at(b, 'subjects')).toEqual([{ kind: 'ServiceAccount', name: tpl.spec.serviceAccountName, namespace: ds!.metadata.namespace }]);
  }
  for (const role of byKind(r, 'ClusterRole')) {
    for (const rule of at(role, 'rules') as { apiGroups: string[]; resources: string[]; verbs: string[] }[]) {
      expect(rule.apiGroups.length && rule.resources.length && rule.verbs.length).toBeTruthy();
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain('*');
    }
  }
  for (const svc of byKind(r, 'Service')) {
    for (const [k, v] of Object.entries(at(svc, 'spec.selector') as Record<string, string>)) expect(tpl.metadata.labels[k]).toBe(v);
  }
  for (const sm of byKind(r, 'ServiceMonitor')) {
    const svc = byKind(r, 'Service').find((s) => Object.entries(at(sm, 'spec.selector.matchLabels') as Record<string, string>).every(([k, v]) => s.metadata.labels?.[k] === v));
    expect(svc, 'the ServiceMonitor selects the metrics Service').toBeDefined();
    const ports = (at(svc, 'spec.ports') as { name: string }[]).map((p) => p.name);
    for (const e of at(sm, 'spec.endpoints') as { port: string }[]) expect(ports).toContain(e.port);
  }
}

function leafPaths(v: unknown, prefix = ''): string[] {
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
    return Object.entries(v).flatMap(([k, x]) => leafPaths(x, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

function agentContainer(r: RenderedChart): Container {
  return (at(byKind(r, 'DaemonSet')[0], 'spec.template.spec') as PodSpec).containers[0]!;
}

describe('helm chart deploy/helm/nexcage (rendered by the subset renderer standing in for helm template)', () => {
  it('has a v2 Chart.yaml whose appVersion is the package version', () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Obj;
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'nexcage', type: 'application', appVersion: pkg.version });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('renders valid objects with the default values: DaemonSet, ServiceAccount and least-privilege RBAC', () => {
    const r = renderChart(CHART);
    expect(r.objects.map((o) => `${o.kind}/${(o.metadata as Obj).name}`).sort()).toEqual([
      'ClusterRole/nexcage-agent',
      'ClusterRoleBinding/nexcage-agent',
      'DaemonSet/nexcage-agent',
      'ServiceAccount/nexcage-agent',
    ]);
    checkConsistency(r);
    const spec = at(byKind(r, 'DaemonSet')[0], 'spec.template.spec') as PodSpec;
    expect(spec.hostPID).toBe(true);
    expect(spec.volumes).toEqual([{ name: 'nexcage-run', hostPath: { path: '/run/nexcage', type: 'Directory' } }]);
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    const c = agentContainer(r);
    expect(c.image).toBe('ghcr.io/nexcage/nexcage:0.1.0');
    expect(c.args).toContain('--runtime-classes=runc');
    expect(c.args.some((a) => a.startsWith('--pre-pull'))).toBe(false);
    expect(at(byKind(r, 'ClusterRole')[0], 'rules')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
      { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['create'] },
      { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], resourceNames: ['runc'], verbs: ['get', 'update'] },
    ]);
    expect(r.files.get('NOTES.txt')).toContain('runc (handler runc, nodes labelled handler.nexcage.io/runc=true)');
  });

  it('has a values file for the test that sets every option of values.yaml', () => {
    const defaults = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Obj;
    const all = new Set(leafPaths(ALL_VALUES));
    const missing = leafPaths(defaults).filter((p) => ![...all].some((a) => a === p || a.startsWith(`${p}.`)));
    expect(missing).toEqual([]);
  });

  it('renders valid objects with every option set, each option showing up where it belongs', () => {
    const r = renderChart(CHART, { releaseName: 'rt', namespace: 'nexcage-system', values: [ALL_VALUES] });
    checkConsistency(r);
    expect(r.objects.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    const [ds] = byKind(r, 'DaemonSet');
    expect(ds!.metadata).toMatchObject({ name: 'node-agent', namespace: 'nexcage-system' });
    expect(at(ds, 'spec.updateStrategy')).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } });
    const tpl = at(ds, 'spec.template') as { metadata: { labels: Obj; annotations: Obj }; spec: PodSpec };
    expect(tpl.metadata.labels.team).toBe('platform');
    expect(tpl.metadata.annotations).toEqual({ 'example.com/scrape': 'true' });
    expect(tpl.spec).toMatchObject({
      serviceAccountName: 'nexcage-node-agent',
      hostPID: false,
      priorityClassName: 'system-cluster-critical',
      imagePullSecrets: [{ name: 'regcred' }],
      nodeSelector: { 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true' },
      tolerations: ALL_VALUES.tolerations,
      affinity: ALL_VALUES.affinity,
    });
    expect(tpl.spec.volumes[0]!.hostPath!.path).toBe('/var/run/nexcage');
    const c = agentContainer(r);
    expect(c.image).toBe('registry.example.com/platform/nexcage:0.1.0-custom');
    expect(at(c, 'imagePullPolicy')).toBe('Always');
    expect(c.resources).toEqual(ALL_VALUES.resources);
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9200, protocol: 'TCP' }]);
    expect(c.env).toContainEqual({ name: 'HTTPS_PROXY', value: 'http://proxy.example.com:3128' });
    const opts = parseAgentOptions(c.args.slice(1), { NODE_NAME: 'n' })!;
    expect(opts).toMatchObject({
      healthAddress: '0.0.0.0:9200',
      logLevel: 'debug',
      logFormat: 'text',
      resyncSeconds: 30,
      retryInitialMs: 500,
      retryMaxMs: 30000,
      runtimeClasses: [
        { handler: 'runc', name: 'runc' },
        { handler: 'crun', name: 'nexcage-crun' },
      ],
      prePull: ['registry.example.com/library/busybox:1.36', 'registry.example.com/pause:3.10'],
    });
    const [sa] = byKind(r, 'ServiceAccount');
    expect(sa!.metadata).toMatchObject({ name: 'nexcage-node-agent', annotations: { 'example.com/owner': 'platform' } });
    const rules = at(byKind(r, 'ClusterRole')[0], 'rules') as { resourceNames?: string[] }[];
    expect(rules[2]!.resourceNames).toEqual(['runc', 'nexcage-crun']);
    const [sm] = byKind(r, 'ServiceMonitor');
    expect(sm!.metadata.labels?.release).toBe('prometheus');
    expect(at(sm, 'spec.endpoints')).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '5s' }]);
    expect(at(byKind(r, 'Service')[0], 'spec.ports')).toEqual([{ name: 'metrics', port: 9200, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(r.files.get('NOTES.txt')).toContain('nexcage-crun (handler crun');
    expect(r.files.get('NOTES.txt')).toContain('scraped by ServiceMonitor node-agent');
  });

  it('leaves out the ServiceAccount and RBAC when told to, using the named account', () => {
    const r = renderChart(CHART, { values: [{ serviceAccount: { create: false, name: 'existing' }, rbac: { create: false }, runtimeClasses: [] }] });
    checkConsistency(r);
    expect(r.objects.map((o) => o.kind)).toEqual(['DaemonSet']);
    expect((at(byKind(r, 'DaemonSet')[0], 'spec.template.spec') as PodSpec).serviceAccountName).toBe('existing');
    expect(agentContainer(r).args.some((a) => a.startsWith('--runtime-classes'))).toBe(false);
  });

  it('RBAC is not narrowed by name when the agent publishes whatever handlers the daemons report', () => {
    const r = renderChart(CHART, { values: [{ runtimeClasses: [] }] });
    const rules = at(byKind(r, 'ClusterRole')[0], 'rules') as { resourceNames?: string[]; verbs: string[] }[];
    expect(rules[2]).toEqual({ apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['get', 'update'] });
  });

  it('refuses values the schema rejects, as helm would', () => {
    expect(() => renderChart(CHART, { values: [{ runtimeClasses: [{ handler: 'Not_A_Label' }] }] })).toThrow(/schema.*handler/);
    expect(() => renderChart(CHART, { values: [{ imageTag: 'typo' }] })).toThrow(/additional properties/);
    expect(() => renderChart(CHART, { values: [{ metrics: { port: 0 } }] })).toThrow(/port/);
  });
});
