import { describe, expect, it } from 'vitest';
import { desiredNodeMeta, labelValue, nodePatch, type DaemonFacts } from './node-labels.js';

const up: DaemonFacts = { reachable: true, version: '0.1.0', apiVersion: 'v1', ready: true, reason: '', handlers: ['runc', 'crun'] };

describe('node labels and annotations', () => {
  it('labels version, readiness and each handler; annotates the handler list', () => {
    const d = desiredNodeMeta(up);
    expect(d.labels).toEqual({ 'nexcage.io/version': '0.1.0', 'nexcage.io/ready': 'true', 'handler.nexcage.io/runc': 'true', 'handler.nexcage.io/crun': 'true' });
    expect(d.annotations).toMatchObject({ 'nexcage.io/handlers': 'runc,crun', 'nexcage.io/runtime-api-version': 'v1' });
  });

  it('patches only what differs and removes handlers the daemon no longer has', () => {
    const current = {
      labels: { 'nexcage.io/version': '0.1.0', 'nexcage.io/ready': 'true', 'handler.nexcage.io/runc': 'true', 'handler.nexcage.io/kata': 'true', 'kubernetes.io/os': 'linux' },
      annotations: { 'nexcage.io/handlers': 'runc,kata', 'nexcage.io/runtime-api-version': 'v1' },
    };
    const patch = nodePatch(current, desiredNodeMeta(up), up);
    expect(patch).toEqual({
      labels: { 'handler.nexcage.io/crun': 'true', 'handler.nexcage.io/kata': null },
      annotations: { 'nexcage.io/handlers': 'runc,crun' },
    });
  });

  it('needs no patch when the node already matches', () => {
    const d = desiredNodeMeta(up);
    const current = { labels: d.labels as Record<string, string>, annotations: { 'nexcage.io/handlers': 'runc,crun', 'nexcage.io/runtime-api-version': 'v1' } };
    expect(nodePatch(current, d, up)).toBeUndefined();
  });

  it('marks the node not ready with the reason when the daemon is down, keeping the other labels', () => {
    const down: DaemonFacts = { ...up, reachable: false, reason: 'connect ENOENT /run/nexcage/nexcage.sock', handlers: [] };
    const current = { labels: { 'nexcage.io/ready': 'true', 'handler.nexcage.io/runc': 'true' }, annotations: {} };
    expect(nodePatch(current, desiredNodeMeta(down), down)).toEqual({
      labels: { 'nexcage.io/ready': 'false' },
      annotations: { 'nexcage.io/not-ready-reason': 'daemon unreachable: connect ENOENT /run/nexcage/nexcage.sock' },
    });
  });

  it('makes any version string a valid label value', () => {
    expect(labelValue('1.2.3+git.abc/def')).toBe('1.2.3-git.abc-def');
    expect(labelValue('-x-')).toBe('x');
    expect(labelValue('a'.repeat(80))).toHaveLength(63);
  });
});
