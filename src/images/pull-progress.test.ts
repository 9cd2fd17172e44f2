import { describe, expect, it, vi } from 'vitest';
import { formatBytes, formatSeconds, PullTracker, summaryLine } from './pull-progress.js';

describe('pull progress', () => {
  it('counts downloaded and unpacked bytes per layer and for the pull, leaving reused layers out of the total', () => {
    const t = new PullTracker();
    const p = t.start('docker.io/library/busybox:latest');
    p.setLayers([
      { digest: 'sha256:a', size: 100, reused: true },
      { digest: 'sha256:b', size: 1000, reused: false },
      { digest: 'sha256:c', size: 3000, reused: false },
    ]);
    p.phase = 'download';
    p.layerPhase(1, 'download');
    p.addDownloaded(1, 600);
    p.addUnpacked(1, 200);
    p.addDownloaded(2, 1000);
    const v = t.list()[0]!;
    expect(v).toMatchObject({ image: 'docker.io/library/busybox:latest', phase: 'download', totalBytes: 4000, downloadedBytes: 1600, unpackedBytes: 200 });
    expect(v.layers.map((l) => [l.phase, l.downloadedBytes, l.unpackedBytes])).toEqual([
      ['reused', 0, 0],
      ['download', 600, 200],
      ['waiting', 1000, 0],
    ]);
    t.end(p);
    expect(t.list()).toEqual([]);
  });

  it('measures speed over the last seconds and gives an ETA from the slower of download and unpack', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const p = new PullTracker().start('x');
      p.setLayers([{ digest: 'sha256:b', size: 10_000_000, reused: false }]);
      expect(p.view().etaSeconds).toBeUndefined();
      for (let s = 1; s <= 4; s++) {
        vi.advanceTimersByTime(1000);
        p.addDownloaded(0, 2_000_000);
        p.addUnpacked(0, 1_000_000);
      }
      const v = p.view();
      expect(v.downloadBytesPerSecond).toBe(2_000_000);
      expect(v.unpackBytesPerSecond).toBe(1_000_000);
      // 2 MB left to download at 2 MB/s, 6 MB left to unpack at 1 MB/s.
      expect(v.etaSeconds).toBe(6);
      expect(summaryLine(v)).toBe('resolve, downloaded 8.0 MB / 10.0 MB, unpacked 4.0 MB, layers 0/1, 2.0 MB/s, ETA 6s');
    } finally {
      vi.useRealTimers();
    }
  });

  it('formats sizes and durations', () => {
    expect([formatBytes(0), formatBytes(999), formatBytes(1500), formatBytes(154_200_000), formatBytes(2.5e9)]).toEqual(['0 B', '999 B', '1.5 kB', '154 MB', '2.5 GB']);
    expect([formatSeconds(0.2), formatSeconds(59.5), formatSeconds(61), formatSeconds(3725)]).toEqual(['1s', '60s', '1m01s', '1h02m']);
  });
});
