// The Helm chart deploy/helm/nexcage rendered by test/support/helm-subset.ts, which STANDS IN FOR
// `helm template` (no helm binary can be installed here): the chart keeps to the documented
// subset of Helm's template language, values are checked against values.schema.json as helm
// does, and every rendered object is checked for its apiVersion, kind and required fields.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
  Job: { apiVersion: 'batch/v1', namespaced: true, required: ['spec.template.spec.containers'] },
  ConfigMap: { apiVersion: 'v1', namespaced: true, required: ['data'] },
  PrometheusRule: { apiVersion: 'monitoring.coreos.com/v1', namespaced: true, required: ['spec.groups'] },
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
  volumes?: { name: string; hostPath?: { path: string; type: string } }[];
  serviceAccountName: string;
  securityContext: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; supplementalGroups?: number[]; seccompProfile?: unknown };
  [k: string]: unknown;
}

const LEAST_PRIVILEGE = { privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };

/** Every pod the chart makes: non-root, no host namespaces, RuntimeDefault seccomp, least-privilege containers. */
function checkPodSecurity(spec: PodSpec, what: string): void {
  for (const hostNs of ['hostPID', 'hostIPC', 'hostNetwork']) expect(spec[hostNs], `${what}: ${hostNs}`).toBeUndefined();
  expect(spec.securityContext.runAsNonRoot, `${what}: runAsNonRoot`).toBe(true);
  expect(spec.securityContext.runAsUser, `${what}: runAsUser`).toBeGreaterThan(0);
  expect(spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  for (const c of spec.containers) expect(c.securityContext, `${what}: container ${c.name}`).toEqual(LEAST_PRIVILEGE);
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
    for (const m of c.volumeMounts) expect((tpl.spec.volumes ?? []).map((v) => v.name), `volume ${m.name}`).toContain(m.name);
    // Only the socket's directory, read-only: the daemon's state dir (pods' mounts, netns pins) stays out.
    expect(c.volumeMounts).toEqual([{ name: 'nexcage-socket', mountPath: '/run/nexcage/sock', readOnly: true }]);
    expect(c.args).toContain('--socket=/run/nexcage/sock/nexcage.sock');
    expect(c.args[0]).toBe('agent');
    // The chart's flags are ones the agent accepts.
    const env = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(() => parseAgentOptions(c.args.slice(1), { ...env, NODE_NAME: 'node-1' })).not.toThrow();
    expect(c.env.find((e) => e.name === 'NODE_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
  }
  checkPodSecurity(tpl.spec, 'DaemonSet');
  for (const job of byKind(r, 'Job')) checkPodSecurity(at(job, 'spec.template.spec') as PodSpec, `Job ${job.metadata.name}`);
  const sas = byKind(r, 'ServiceAccount');
  if (sas.length > 0) expect(sas.map((s) => s.metadata.name)).toContain(tpl.spec.serviceAccountName);
  for (const b of byKind(r, 'ClusterRoleBinding')) {
    const role = byKind(r, 'ClusterRole').find((c) => c.metadata.name === at(b, 'roleRef.name'));
    expect(role, `ClusterRole ${at(b, 'roleRef.name') as string}`).toBeDefined();
    // A hook binding binds hook objects, made at the same hook.
    expect(role!.metadata.annotations?.['helm.sh/hook']).toBe(b.metadata.annotations?.['helm.sh/hook']);
    const [subject] = at(b, 'subjects') as { kind: string; name: string; namespace: string }[];
    expect(at(b, 'subjects')).toHaveLength(1);
    expect(subject).toMatchObject({ kind: 'ServiceAccount', namespace: ds!.metadata.namespace });
    const hook = b.metadata.annotations?.['helm.sh/hook'];
    if (hook) expect(sas.find((sa) => sa.metadata.name === subject!.name)?.metadata.annotations?.['helm.sh/hook']).toBe(hook);
    else expect(subject!.name).toBe(tpl.spec.serviceAccountName);
  }
  for (const job of byKind(r, 'Job')) {
    const spec = at(job, 'spec.template.spec') as PodSpec;
    expect(sas.find((sa) => sa.metadata.name === spec.serviceAccountName)?.metadata.annotations?.['helm.sh/hook']).toBe(job.metadata.annotations?.['helm.sh/hook']);
    // The Job's pods never match the DaemonSet's selector (nor the metrics Service's).
    const podLabels = at(job, 'spec.template.metadata.labels') as Record<string, string>;
    expect(Object.entries(selector).every(([k, v]) => podLabels[k] === v)).toBe(false);
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

/** The agent's ClusterRole (not the cleanup hook's). */
function agentRole(r: RenderedChart): K8s | undefined {
  return byKind(r, 'ClusterRole').find((c) => !c.metadata.annotations?.['helm.sh/hook']);
}

function ds0(r: RenderedChart): K8s {
  return byKind(r, 'DaemonSet')[0]!;
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

  it('defaults to the image `make image` names: IMAGE in the Makefile, tagged with the appVersion', () => {
    const makefile = readFileSync(join(REPO, 'Makefile'), 'utf8');
    const image = /^IMAGE \?= (\S+)$/m.exec(makefile)?.[1];
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { image: { repository: string; tag: string } };
    expect(values.image).toMatchObject({ repository: image, tag: '' });
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(agentContainer(renderChart(CHART)).image).toBe(`${image}:${pkg.version}`);
  });

  it('renders valid objects with the default values: DaemonSet, ServiceAccount, least-privilege RBAC and the cleanup hook', () => {
    const r = renderChart(CHART);
    expect(r.objects.map((o) => `${o.kind}/${(o.metadata as Obj).name}`).sort()).toEqual([
      'ClusterRole/nexcage-agent',
      'ClusterRole/nexcage-agent-cleanup',
      'ClusterRoleBinding/nexcage-agent',
      'ClusterRoleBinding/nexcage-agent-cleanup',
      'DaemonSet/nexcage-agent',
      'Job/nexcage-agent-cleanup',
      'ServiceAccount/nexcage-agent',
      'ServiceAccount/nexcage-agent-cleanup',
    ]);
    checkConsistency(r);
    const spec = at(byKind(r, 'DaemonSet')[0], 'spec.template.spec') as PodSpec;
    // The socket-only directory of the packaged config, as a non-root user in the socket's group.
    const packaged = JSON.parse(readFileSync(join(REPO, 'deploy/config.json'), 'utf8')) as { socket: string; metricsSocket: string };
    expect(spec.volumes).toEqual([{ name: 'nexcage-socket', hostPath: { path: dirname(packaged.socket), type: 'Directory' } }]);
    expect(spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, supplementalGroups: [0], seccompProfile: { type: 'RuntimeDefault' } });
    // Only nexcage nodes (labelled by their kubelet), tainted or not.
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true' });
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    const c = agentContainer(r);
    expect(c.image).toBe('ghcr.io/nexcage/nexcage:0.1.0');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    // The daemon's metrics socket (beside its CRI socket) is relayed on the agent's port.
    expect(dirname(packaged.metricsSocket)).toBe(dirname(packaged.socket));
    expect(c.args).toContain(`--daemon-metrics-socket=${packaged.metricsSocket}`);
    // Requests cover the agent's measured RSS (about 72 MiB in its pod: test/e2e/agent-image.test.ts).
    expect(c.resources).toEqual({ requests: { cpu: '5m', memory: '72Mi' }, limits: { memory: '192Mi' } });
    expect(c.args).toContain('--runtime-classes=runc');
    expect(c.args.some((a) => a.startsWith('--pre-pull'))).toBe(false);
    expect(at(agentRole(r), 'rules')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
      { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['create'] },
      { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], resourceNames: ['runc'], verbs: ['get', 'update'] },
    ]);
    expect(r.files.get('NOTES.txt')).toContain('runc (handler runc, nodes labelled handler.nexcage.io/runc=true)');
    expect(r.files.get('NOTES.txt')).toContain('pod-security.kubernetes.io/enforce=privileged');
  });

  it('cleans up on uninstall with a post-delete Job running `nexcage agent cleanup` with just enough RBAC', () => {
    const r = renderChart(CHART);
    const [job] = byKind(r, 'Job');
    expect(job!.metadata.annotations).toEqual({ 'helm.sh/hook': 'post-delete', 'helm.sh/hook-weight': '0', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' });
    for (const o of r.objects as K8s[]) {
      if (o.metadata.name.endsWith('-cleanup') && o.kind !== 'Job') expect(Number(o.metadata.annotations?.['helm.sh/hook-weight'])).toBeLessThan(0);
    }
    const c = (at(job, 'spec.template.spec') as PodSpec).containers[0]!;
    expect(c.image).toBe(agentContainer(r).image);
    expect(c.args.slice(0, 2)).toEqual(['agent', 'cleanup']);
    expect(() => parseAgentOptions(c.args.slice(2), {}, { nodeName: false })).not.toThrow();
    expect(at(job, 'spec.template.spec.restartPolicy')).toBe('Never');
    expect(at(byKind(r, 'ClusterRole').find((x) => x.metadata.name === 'nexcage-agent-cleanup'), 'rules')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'patch'] },
      { apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['list', 'delete'] },
    ]);
    const off = renderChart(CHART, { values: [{ cleanup: { enabled: false } }] });
    expect(off.objects.filter((o) => (o.metadata as Obj).name === 'nexcage-agent-cleanup')).toEqual([]);
    expect(off.files.get('NOTES.txt')).toContain('kubectl delete runtimeclass -l app.kubernetes.io/managed-by=nexcage-agent');
  });

  it('accepts what parent charts pass (global, nameOverride), nameOverride naming the app label', () => {
    const r = renderChart(CHART, { values: [{ global: { imageRegistry: 'mirror.example.com', storageClass: 'x' }, nameOverride: 'node-runtime' }] });
    checkConsistency(r);
    const [ds] = byKind(r, 'DaemonSet');
    expect(ds!.metadata.labels?.['app.kubernetes.io/name']).toBe('node-runtime');
    expect(at(ds, 'spec.selector.matchLabels')).toMatchObject({ 'app.kubernetes.io/name': 'node-runtime' });
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
    expect(r.objects.map((o) => o.kind).sort()).toEqual([
      'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Job', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceAccount', 'ServiceMonitor',
    ]);
    expect(ds0(r).metadata.labels?.['app.kubernetes.io/name']).toBe('nexcage-agent-chart');
    const [ds] = byKind(r, 'DaemonSet');
    expect(ds!.metadata).toMatchObject({ name: 'node-agent', namespace: 'nexcage-system' });
    expect(at(ds, 'spec.updateStrategy')).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } });
    const tpl = at(ds, 'spec.template') as { metadata: { labels: Obj; annotations: Obj }; spec: PodSpec };
    expect(tpl.metadata.labels.team).toBe('platform');
    expect(tpl.metadata.annotations).toEqual({ 'example.com/scrape': 'true' });
    expect(tpl.spec).toMatchObject({
      serviceAccountName: 'nexcage-node-agent',
      securityContext: { runAsUser: 1234, runAsGroup: 1234, supplementalGroups: [2375] },
      priorityClassName: 'system-cluster-critical',
      imagePullSecrets: [{ name: 'regcred' }],
      nodeSelector: { 'kubernetes.io/os': 'linux', 'nexcage.io/runtime': 'true' },
      tolerations: ALL_VALUES.tolerations,
      affinity: ALL_VALUES.affinity,
    });
    expect(tpl.spec.volumes![0]!.hostPath!.path).toBe('/var/run/nexcage/sock');
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
    const sa = byKind(r, 'ServiceAccount').find((x) => !x.metadata.annotations?.['helm.sh/hook']);
    expect(sa!.metadata).toMatchObject({ name: 'nexcage-node-agent', annotations: { 'example.com/owner': 'platform' } });
    const rules = at(agentRole(r), 'rules') as { resourceNames?: string[] }[];
    expect(rules[2]!.resourceNames).toEqual(['runc', 'nexcage-crun']);
    const [sm] = byKind(r, 'ServiceMonitor');
    expect(sm!.metadata.labels?.release).toBe('prometheus');
    expect(at(sm, 'spec.endpoints')).toEqual([
      { port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '5s' },
      {
        port: 'metrics',
        path: '/daemon/metrics',
        interval: '15s',
        scrapeTimeout: '5s',
        relabelings: [
          { targetLabel: 'job', replacement: 'nexcage-daemon' },
          { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' },
        ],
      },
    ]);
    expect(opts.daemonMetricsSocket).toBe('/run/nexcage/sock/metrics.sock');
    const [cm] = byKind(r, 'ConfigMap');
    expect(cm!.metadata).toMatchObject({ name: 'node-agent-dashboard', namespace: 'monitoring', annotations: { grafana_folder: 'Kubernetes' } });
    expect(cm!.metadata.labels?.grafana_dashboard).toBe('nexcage');
    const dashboard = JSON.parse((at(cm, 'data') as Record<string, string>)['nexcage.json']!) as { uid: string; panels: unknown[] };
    expect(dashboard).toEqual(JSON.parse(readFileSync(join(CHART, 'dashboards/nexcage.json'), 'utf8')));
    const [rule] = byKind(r, 'PrometheusRule');
    expect(rule!.metadata.labels?.release).toBe('prometheus');
    expect(at(rule, 'spec')).toEqual(parseYaml(readFileSync(join(CHART, 'alerts/nexcage.rules.yaml'), 'utf8')));
    expect(at(byKind(r, 'Service')[0], 'spec.ports')).toEqual([{ name: 'metrics', port: 9200, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(r.files.get('NOTES.txt')).toContain('nexcage-crun (handler crun');
    expect(r.files.get('NOTES.txt')).toContain('scraped by ServiceMonitor node-agent');
  });

  it('leaves out the ServiceAccount and RBAC when told to, using the named account', () => {
    const r = renderChart(CHART, { values: [{ serviceAccount: { create: false, name: 'existing' }, rbac: { create: false }, runtimeClasses: [], cleanup: { enabled: false } }] });
    checkConsistency(r);
    expect(r.objects.map((o) => o.kind)).toEqual(['DaemonSet']);
    expect((at(byKind(r, 'DaemonSet')[0], 'spec.template.spec') as PodSpec).serviceAccountName).toBe('existing');
    expect(agentContainer(r).args.some((a) => a.startsWith('--runtime-classes'))).toBe(false);
  });

  it('RBAC is not narrowed by name when the agent publishes whatever handlers the daemons report', () => {
    const r = renderChart(CHART, { values: [{ runtimeClasses: [] }] });
    const rules = at(agentRole(r), 'rules') as { resourceNames?: string[]; verbs: string[] }[];
    expect(rules[2]).toEqual({ apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['get', 'update'] });
  });

  it('refuses values the schema rejects, as helm would', () => {
    expect(() => renderChart(CHART, { values: [{ runtimeClasses: [{ handler: 'Not_A_Label' }] }] })).toThrow(/schema.*handler/);
    expect(() => renderChart(CHART, { values: [{ imageTag: 'typo' }] })).toThrow(/additional properties/);
    expect(() => renderChart(CHART, { values: [{ metrics: { port: 0 } }] })).toThrow(/port/);
    expect(() => renderChart(CHART, { values: [{ agent: { runAsUser: 0 } }] })).toThrow(/runAsUser/);
    expect(() => renderChart(CHART, { values: [{ agent: { hostPID: true } }] })).toThrow(/additional properties/);
  });
});
