import { describe, expect, it } from 'vitest';
import { planOverlay } from './container-rootfs.js';

describe('planOverlay', () => {
  const rec = '/var/lib/nexcage/containers/abc';
  const snap = (n: number): string => `/var/lib/nexcage/snapshots/${String(n).padStart(64, '0')}/fs`;

  it('lists the lower dirs top-most first, relative to the record dir', () => {
    const p = planOverlay([snap(1), snap(2), snap(3)], rec, `${rec}/upper`, `${rec}/work`);
    expect(p.cwd).toBe(rec);
    expect(p.links).toEqual([]);
    const lower = /lowerdir=([^,]+)/.exec(p.options)![1]!.split(':');
    expect(lower).toEqual([3, 2, 1].map((n) => `../../snapshots/${String(n).padStart(64, '0')}/fs`));
    expect(p.options).toContain(',upperdir=upper,workdir=work');
  });

  it('switches to short symlinks when the options would not fit in a page', () => {
    const layers = Array.from({ length: 120 }, (_, i) => snap(i));
    const p = planOverlay(layers, rec, `${rec}/upper`, `${rec}/work`);
    expect(p.options.length).toBeLessThan(4096);
    expect(p.links).toHaveLength(120);
    expect(p.links[0]).toEqual({ name: 'l/0', target: snap(119) });
    expect(p.options.startsWith('lowerdir=l/0:l/1:')).toBe(true);
  });

  it('refuses an image without layers or with more than overlayfs supports', () => {
    expect(() => planOverlay([], rec, 'u', 'w')).toThrow(/no layers/);
    expect(() => planOverlay(Array.from({ length: 501 }, (_, i) => snap(i)), rec, 'u', 'w')).toThrow(/at most 500/);
  });
});
