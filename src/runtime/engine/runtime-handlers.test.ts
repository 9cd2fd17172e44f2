import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { parseFeatures, RuntimeHandlers } from './runtime-handlers.js';

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

describe('user namespaces', () => {
  it('come with a runtime that lists the user namespace in its features (runc 1.1) or idmaps mounts', () => {
    const runc11 = JSON.stringify({ mountOptions: ['rro'], linux: { namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'] } });
    expect(parseFeatures(runc11, '6.18.0').userNamespaces).toBe(true);
    expect(parseFeatures(JSON.stringify({ linux: { namespaces: ['mount', 'network', 'pid'] } }), '6.18.0').userNamespaces).toBe(false);
  });

  it('are withdrawn from every handler when the host cannot run them, saying why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nexcage-handlers-'));
    try {
      const features = (ns: string): string => `#!/bin/sh\necho '${JSON.stringify({ linux: { namespaces: ns.split(',') } })}'\n`;
      writeFileSync(join(dir, 'with'), features('mount,user'), { mode: 0o755 });
      writeFileSync(join(dir, 'without'), features('mount'), { mode: 0o755 });
      const specs = ['with', 'without'].map((name) => ({ name, path: join(dir, name), root: join(dir, `${name}-root`), systemdCgroup: false }));
      const handlers = await RuntimeHandlers.resolve([...specs, { name: 'gone', path: join(dir, 'missing'), root: dir, systemdCgroup: false }], 'with', '6.18.0', silentLogger());
      const view = () => Object.fromEntries(handlers.list().map((h) => [h.name, [h.features.userNamespaces, h.usernsUnsupported]]));
      expect(view()).toEqual({
        with: [true, undefined],
        without: [false, `${join(dir, 'without')} does not list the user namespace in its \`features\``],
        gone: [false, `runtime "${join(dir, 'missing')}" not found`],
      });
      handlers.restrictUserNamespaces(undefined);
      expect(handlers.get('with').features.userNamespaces).toBe(true);
      handlers.restrictUserNamespaces('kernel 5.10.0 cannot idmap overlayfs layers (5.19 or newer is needed)');
      expect(view()).toMatchObject({ with: [false, 'kernel 5.10.0 cannot idmap overlayfs layers (5.19 or newer is needed)'], without: [false, expect.stringContaining('does not list')] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
