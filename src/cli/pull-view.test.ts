import { describe, expect, it } from 'vitest';
import type { PullProgressView } from '../images/pull-progress.js';
import { layerLine, plainLine, terminalLines } from './pull-view.js';
import { pullsUrl } from './pull.js';

const view: PullProgressView = {
  image: 'registry.example/app:1',
  phase: 'download',
  startedAt: '2026-01-01T00:00:00.000Z',
  elapsedSeconds: 2,
  totalBytes: 3_000_000,
  downloadedBytes: 1_500_000,
  unpackedBytes: 500_000,
  downloadBytesPerSecond: 750_000,
  unpackBytesPerSecond: 250_000,
  etaSeconds: 10,
  layers: [
    { digest: `sha256:${'a'.repeat(64)}`, size: 1_000_000, phase: 'reused', downloadedBytes: 0, unpackedBytes: 0 },
    { digest: `sha256:${'b'.repeat(64)}`, size: 1_000_000, phase: 'done', downloadedBytes: 1_000_000, unpackedBytes: 1_000_000 },
    { digest: `sha256:${'c'.repeat(64)}`, size: 2_000_000, phase: 'download', downloadedBytes: 1_000_000, unpackedBytes: 500_000 },
  ],
};

describe('nexcage pull view', () => {
  it('draws unpacked bytes as = and downloaded-only bytes as - in a layer bar', () => {
    expect(layerLine(view.layers[2]!)).toBe(`cccccccccccc download [=======--------               ] 1.0 MB / 2.0 MB`);
    expect(layerLine(view.layers[1]!)).toBe(`bbbbbbbbbbbb done     [${'='.repeat(30)}] 1.0 MB`);
    expect(layerLine(view.layers[0]!)).toBe('aaaaaaaaaaaa already present');
  });

  it('puts a header over the layer lines, cut to the terminal width', () => {
    const lines = terminalLines(view, 40);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('registry.example/app:1: download  1.5 M');
    expect(lines.every((l) => l.length <= 40)).toBe(true);
    expect(terminalLines(view)[0]).toBe('registry.example/app:1: download  1.5 MB / 3.0 MB  750 kB/s  ETA 10s');
  });

  it('says it all in one line for a pipe', () => {
    expect(plainLine(view)).toBe('registry.example/app:1: download, downloaded 1.5 MB / 3.0 MB, unpacked 500 kB, layers 2/3, 750 kB/s, ETA 10s');
  });

  it('finds /pulls on the metrics address, on loopback for a wildcard bind', () => {
    expect(pullsUrl('127.0.0.1:9101')).toBe('http://127.0.0.1:9101/pulls');
    expect(pullsUrl('0.0.0.0:9101')).toBe('http://127.0.0.1:9101/pulls');
    expect(pullsUrl('[::]:9101')).toBe('http://[::1]:9101/pulls');
    expect(pullsUrl('[::1]:9101')).toBe('http://[::1]:9101/pulls');
    expect(pullsUrl('')).toBeUndefined();
  });
});
