// deploy/config.json is what the .deb installs as /etc/nexcage/config.json: it must load through
// the daemon's own loader, and it keeps a node NotReady until the cluster's CNI config exists
// (the embedded defaults, used by `make run`, keep the zero-config bridge network).
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/daemon/config.js';
import { defaultConfig } from '../../src/daemon/config-schema.js';

const REPO = resolve(import.meta.dirname, '../..');

describe('the packaged config.json', () => {
  it('loads and turns the built-in default network off, while the embedded default keeps it on', async () => {
    const { config } = await loadConfig({ file: join(REPO, 'deploy/config.json'), env: {} });
    expect(config.cni.defaultNetwork).toBe(false);
    expect(config.runtimes.runc?.path).toBe('/usr/sbin/runc');
    expect(defaultConfig().cni.defaultNetwork).toBe(true);
  });
});
