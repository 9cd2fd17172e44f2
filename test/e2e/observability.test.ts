// The chart's Grafana dashboard and alerts against what nexcage really exposes: every expression
// must parse as PromQL (Prometheus' own Lezer grammar, @prometheus-io/lezer-promql) and name only
// metrics and labels a live daemon's /metrics (or its agent's) shows after real work: pulls (one
// failing), a pod and a container, an exec session, a CNI failure. Labels Prometheus adds itself
// (job, instance, node from the ServiceMonitor) and its `up` series are the only extras allowed.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { call } from '../../src/cri/grpc/client.js';
import { ctrConfig, podConfig, pushContainerImages, runCtr, runPod } from '../support/containers.js';
import { KubeApiStandIn } from '../support/kube-api-standin.js';
import { TestRegistry } from '../support/registry.js';
import { SpdyClient } from '../support/spdy-client.js';
import { Daemon, MAIN, NODE, REPO, useTestDir, waitFor } from './harness.js';
import { spawn, type ChildProcess } from 'node:child_process';

const t = useTestDir();
const CHART = join(REPO, 'deploy/helm/nexcage');
/** Added by Prometheus (target labels, the ServiceMonitor's relabelings), never in an exposition. */
const TARGET_LABELS = new Set(['job', 'instance', 'node']);
const PROMETHEUS_SERIES = new Set(['up']);

interface Expr {
  where: string;
  promql: string;
}

/** Every PromQL expression of the dashboard (Grafana variables replaced as Grafana does) and the alerts. */
function expressions(): Expr[] {
  const out: Expr[] = [];
  const dash = JSON.parse(readFileSync(join(CHART, 'dashboards/nexcage.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { name: string; definition?: string }[] };
  };
  const grafana = (e: string): string => e.replaceAll('$__rate_interval', '1m').replaceAll('$job', 'nexcage-daemon').replaceAll('$instance', '.*');
  for (const p of dash.panels) for (const tg of p.targets) out.push({ where: `panel "${p.title}"`, promql: grafana(tg.expr) });
  for (const v of dash.templating.list) {
    // label_values(<selector>, label) is Grafana's, not PromQL: check its selector.
    const m = v.definition ? /^label_values\((.*), *(\w+)\)$/.exec(v.definition) : null;
    if (m) out.push({ where: `variable ${v.name}`, promql: `count by (${m[2]}) (${grafana(m[1]!)})` });
  }
  const rules = parseYaml(readFileSync(join(CHART, 'alerts/nexcage.rules.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  for (const g of rules.groups) for (const r of g.rules) out.push({ where: `alert ${r.alert}`, promql: r.expr });
  return out;
}

interface Used {
  errors: string[];
  /** metric -> label names matched on it */
  selectors: Map<string, Set<string>>;
  /** label names in by/without/on/ignoring clauses */
  grouping: Set<string>;
}

/** Walks the Lezer tree: syntax errors, each selector's metric and matchers, grouping labels. */
function analyse(promql: string): Used {
  const used: Used = { errors: [], selectors: new Map(), grouping: new Set() };
  const text = (from: number, to: number): string => promql.slice(from, to);
  const c = parser.parse(promql).cursor();
  const walk = (): void => {
    do {
      if (c.type.isError) used.errors.push(`syntax error at ${c.from}: "${text(c.from, Math.min(c.to + 10, promql.length))}"`);
      if (c.name === 'VectorSelector') {
        const node = c.node;
        const name = node.getChild('Identifier');
        const metric = name ? text(name.from, name.to) : '';
        const labels = used.selectors.get(metric) ?? new Set<string>();
        const matchers = node.getChild('LabelMatchers');
        for (const m of matchers?.getChildren('UnquotedLabelMatcher') ?? []) {
          const l = m.getChild('LabelName');
          if (l) labels.add(text(l.from, l.to));
        }
        if (!name) used.errors.push(`selector without a metric name: ${text(c.from, c.to)}`);
        used.selectors.set(metric, labels);
      }
      if (c.name === 'GroupingLabels') {
        for (const l of c.node.getChildren('LabelName')) used.grouping.add(text(l.from, l.to));
      }
      if (c.firstChild()) {
        walk();
        c.parent();
      }
    } while (c.nextSibling());
  };
  walk();
  return used;
}

/** metric series name -> label names seen on its samples (names from # TYPE lines too, without labels). */
function exposition(text: string, into = new Map<string, Set<string>>()): Map<string, Set<string>> {
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      const names = kind === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : kind === 'summary' ? [name, `${name}_sum`, `${name}_count`] : [name];
      for (const n of names) if (!into.has(n)) into.set(n, new Set());
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? /.exec(line);
    if (!m) continue;
    const labels = into.get(m[1]!) ?? new Set<string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(l[1]!);
    into.set(m[1]!, labels);
  }
  return into;
}

describe('dashboard and alert expressions against a live daemon', () => {
  let d: Daemon;
  let registry: TestRegistry;
  let agent: ChildProcess | undefined;
  const api = new KubeApiStandIn();
  const exposed = new Map<string, Set<string>>();

  beforeAll(async () => {
    const dir = t.dir();
    registry = await TestRegistry.start({ parent: dir.path });
    const images = await pushContainerImages(registry);
    const confDir = dir.join('net.d');
    mkdirSync(confDir);
    d = t.track(new Daemon(dir, 'obs', { config: { cni: { confDirs: [confDir], ...dir.podNetwork }, metricsSocket: dir.join('obs-metrics.sock') } }));
    await d.start();
    // Work that puts a sample behind every label: pulls (one fails), a pod with a running
    // container, an exec session over the streaming server, a pod whose CNI plugin fails.
    await call(d.client.image, 'PullImage', { image: { image: images.busybox } }, 60_000);
    await expect(call(d.client.image, 'PullImage', { image: { image: `${registry.host}/test/missing:1` } }, 60_000)).rejects.toBeTruthy();
    const pod = podConfig(dir);
    const podId = await runPod(d, pod);
    const ctr = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    const { url } = await call(d.client.runtime, 'Exec', { container_id: ctr, cmd: ['echo', 'hi'], stdout: true, stderr: true });
    const spdy = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    const error = await spdy.createStream({ streamType: 'error' });
    const stdout = await spdy.createStream({ streamType: 'stdout' });
    const stderr = await spdy.createStream({ streamType: 'stderr' });
    await Promise.all([stdout.all(), stderr.all(), error.all()]);
    spdy.close();
    writeFileSync(join(confDir, '10-broken.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'broken', plugins: [{ type: 'no-such-plugin' }] }));
    await expect(runPod(d, podConfig(dir))).rejects.toBeTruthy();
    rmSync(join(confDir, '10-broken.conflist'));
    await waitFor('the exec session to be counted', async () => (await (await fetch(`${d.metricsUrl}/metrics`)).text()).includes('nexcage_streaming_sessions_total{'));
    exposition(await (await fetch(`${d.metricsUrl}/metrics`)).text(), exposed);
    // The agent's own series (the readiness alert uses them), from a real agent process.
    api.addNode('node-1');
    await api.start();
    api.writeKubeconfig(dir.join('kubeconfig'));
    const a = spawn(NODE, [MAIN, 'agent', '--socket', d.socket, '--kubeconfig', dir.join('kubeconfig'), '--health-address', '127.0.0.1:0', '--daemon-metrics-socket', dir.join('obs-metrics.sock')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NAME: 'node-1' },
    });
    agent = a;
    let log = '';
    a.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const health = await waitFor('the agent to start', () => /"healthAddress":"([^"]+)"/.exec(log)?.[1]);
    await waitFor('a sync round', () => api.nodes.get('node-1')?.metadata.labels?.['nexcage.io/ready'] === 'true');
    exposition(await (await fetch(`http://${health}/metrics`)).text(), exposed);
    // What Prometheus scrapes through the agent is the daemon's exposition, byte for byte in shape.
    const relayed = exposition(await (await fetch(`http://${health}/daemon/metrics`)).text());
    expect(relayed.get('nexcage_grpc_requests_total')).toEqual(exposed.get('nexcage_grpc_requests_total'));
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: podId });
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: podId });
  }, 180_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    await api.stop();
    await d?.stop();
    await registry?.stop();
  });

  it('parses every expression and uses only exposed metrics and labels', () => {
    const problems: string[] = [];
    const all = expressions();
    expect(all.length).toBeGreaterThanOrEqual(20);
    for (const e of all) {
      const used = analyse(e.promql);
      for (const err of used.errors) problems.push(`${e.where}: ${err} in ${e.promql}`);
      const seen = new Set<string>(TARGET_LABELS);
      for (const [metric, labels] of used.selectors) {
        if (PROMETHEUS_SERIES.has(metric)) continue;
        const have = exposed.get(metric);
        if (!have) {
          problems.push(`${e.where}: metric ${metric} is not exposed`);
          continue;
        }
        for (const l of have) seen.add(l);
        for (const l of labels) if (!TARGET_LABELS.has(l) && !have.has(l)) problems.push(`${e.where}: ${metric} has no label "${l}" (it has ${[...have].join(', ') || 'none'})`);
      }
      for (const l of used.grouping) if (!seen.has(l)) problems.push(`${e.where}: grouping label "${l}" is on none of its series`);
    }
    expect(problems).toEqual([]);
  });

  it('finds real mistakes: a typo in a metric, a label a metric lacks, broken syntax', () => {
    expect(analyse('sum by (method) (rate(x{a="1"}[5m])').errors.length).toBeGreaterThan(0);
    const used = analyse('sum by (plugin) (rate(nexcage_cni_errors_totl{command="ADD", method="x"}[5m]))');
    expect(used.errors).toEqual([]);
    expect(exposed.has('nexcage_cni_errors_totl')).toBe(false);
    expect(exposed.get('nexcage_cni_errors_total')).toEqual(new Set(['command', 'plugin']));
    expect(exposed.get('nexcage_grpc_requests_total')?.has('method')).toBe(true);
    expect(exposed.get('nexcage_cni_errors_total')?.has('method')).toBe(false);
  });
});
