// `nexcage agent` entry points that return: --help, bad flags, and `cleanup` (the chart's uninstall
// hook) against the stand-in API server, with its exit codes.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeApiStandIn } from '../../test/support/kube-api-standin.js';
import { runAgent } from './cli.js';
import { desiredRuntimeClass } from './runtime-classes.js';

const dir = mkdtempSync('/tmp/nexcage-agent-cli-');
const api = new KubeApiStandIn();
const kubeconfig = join(dir, 'kubeconfig');

beforeAll(async () => {
  await api.start();
  api.writeKubeconfig(kubeconfig);
});
afterAll(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

function output(stream: NodeJS.WriteStream): string[] {
  const written: string[] = [];
  vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  return written;
}

describe('nexcage agent', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    const out = output(process.stdout);
    expect(await runAgent(['--help'], {})).toBe(0);
    expect(out.join('')).toMatch(/^usage: nexcage agent \[flags\]\n {7}nexcage agent cleanup/);
    expect(out.join('')).toContain('--runtime-classes VALUE');
  });

  it('a bad flag or value exits 2 with the problem and the usage on stderr', async () => {
    const err = output(process.stderr);
    expect(await runAgent(['--resync-seconds', 'soon'], { NODE_NAME: 'n1' })).toBe(2);
    expect(err.join('')).toMatch(/^nexcage agent: flag --resync-seconds: must be a whole number from 1 to 86400, got "soon"\n\nusage:/);
    err.length = 0;
    expect(await runAgent(['--log-format', 'xml'], { NODE_NAME: 'n1' })).toBe(2);
    expect(err.join('')).toContain('flag --log-format: must be one of json, text, got "xml"');
    err.length = 0;
    expect(await runAgent([], { NODE_NAME: 'n1', NEXCAGE_AGENT_RETRY_INITIAL_MS: '5000', NEXCAGE_AGENT_RETRY_MAX_MS: '100' })).toBe(2);
    expect(err.join('')).toContain('--retry-max-ms must not be below --retry-initial-ms');
    err.length = 0;
    expect(await runAgent(['--runtime-classes', 'runc=Bad_Name'], { NODE_NAME: 'n1' })).toBe(2);
    expect(err.join('')).toContain('RuntimeClass name "Bad_Name" must be a lowercase DNS subdomain');
  });

  it('cleanup needs no node name: removes what the agents made and exits 0; 1 when a step failed', async () => {
    const rc = desiredRuntimeClass({ name: 'runc', handler: 'runc' });
    api.runtimeClasses.set('runc', { ...rc, metadata: { ...rc.metadata, resourceVersion: '1' } } as never);
    api.addNode('n1', { 'nexcage.io/ready': 'true', 'nexcage.io/runtime': 'true' });
    expect(await runAgent(['cleanup', '--kubeconfig', kubeconfig, '--log-level', 'fatal'], {})).toBe(0);
    expect(api.runtimeClasses.size).toBe(0);
    expect(api.nodes.get('n1')?.metadata.labels).toEqual({ 'nexcage.io/runtime': 'true' });

    api.failNext(1, 500);
    expect(await runAgent(['cleanup', '--log-level', 'fatal'], { KUBECONFIG: kubeconfig })).toBe(1);
  });

  it('cleanup with a kubeconfig that cannot be loaded exits 1', async () => {
    expect(await runAgent(['cleanup', '--kubeconfig', join(dir, 'missing'), '--log-level', 'fatal'], {})).toBe(1);
  });
});
