import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wireDifferences, wireShape } from './proto-compat.js';

const ours = resolve(import.meta.dirname, 'runtime/v1/api.proto');
const upstream = resolve(import.meta.dirname, '../../shared/reference/cri-api/runtime/v1/api.proto');
const haveUpstream = existsSync(upstream);

describe('cri-api/runtime/v1/api.proto', () => {
  it.skipIf(!haveUpstream)('is wire-identical to upstream cri-api v0.36.3 (skipped only when ../shared is absent)', () => {
    const a = wireShape(ours);
    const b = wireShape(upstream);
    expect(wireDifferences(a, b)).toEqual([]);
    // Guard against comparing two empty shapes.
    expect(b.get('rpc runtime.v1.RuntimeService.GetContainerEvents')).toBe(
      'runtime.v1.GetEventsRequest -> stream runtime.v1.ContainerEventResponse',
    );
    expect([...b.keys()].filter((k) => k.startsWith('field ')).length).toBeGreaterThan(400);
  });

  it('catches a single changed field number', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nexcage-proto-'));
    try {
      const text = readFileSync(ours, 'utf8');
      const changed = text.replace(/(message VersionResponse \{[^}]*runtime_name = )2;/, '$133;');
      expect(changed).not.toBe(text);
      const p = join(dir, 'api.proto');
      writeFileSync(p, changed);
      expect(wireDifferences(wireShape(p), wireShape(ours))).toEqual([
        'differs: field runtime.v1.VersionResponse.runtime_name: ours #33 singular string oneof=-, upstream #2 singular string oneof=-',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('catches a renamed enum value and a streaming flag dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nexcage-proto-'));
    try {
      const text = readFileSync(ours, 'utf8')
        .replace(/CONTAINER_EXITED\s*= 2;/, 'CONTAINER_STOPPED = 2;')
        .replace('returns (stream ContainerEventResponse)', 'returns (ContainerEventResponse)');
      const p = join(dir, 'api.proto');
      writeFileSync(p, text);
      const diffs = wireDifferences(wireShape(p), wireShape(ours));
      expect(diffs).toContain('missing in ours: enum runtime.v1.ContainerState.CONTAINER_EXITED (2)');
      expect(diffs).toContain('only in ours: enum runtime.v1.ContainerState.CONTAINER_STOPPED (2)');
      expect(diffs.some((d) => d.startsWith('differs: rpc runtime.v1.RuntimeService.GetContainerEvents'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
