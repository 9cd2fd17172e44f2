import { describe, expect, it } from 'vitest';
import { parseFeatures } from './runtime-handlers.js';

describe('parseFeatures', () => {
  const runcLike = JSON.stringify({ mountOptions: ['bind', 'rro', 'ro'], linux: { mountExtensions: { idmap: { enabled: true } } } });

  it('reports recursive read-only mounts when the runtime and kernel both support them', () => {
    expect(parseFeatures(runcLike, '6.1.0-18-amd64')).toEqual({ recursiveReadOnlyMounts: true, userNamespaces: true });
  });

  it('needs kernel 5.12 for recursive read-only mounts', () => {
    expect(parseFeatures(runcLike, '5.10.0-28-amd64').recursiveReadOnlyMounts).toBe(false);
    expect(parseFeatures(runcLike, '5.12.1').recursiveReadOnlyMounts).toBe(true);
  });

  it('reports nothing for a runtime without rro or idmap, or with unreadable output', () => {
    expect(parseFeatures(JSON.stringify({ mountOptions: ['ro'] }), '6.1.0')).toEqual({ recursiveReadOnlyMounts: false, userNamespaces: false });
    expect(parseFeatures('not json', '6.1.0')).toEqual({ recursiveReadOnlyMounts: false, userNamespaces: false });
  });
});
