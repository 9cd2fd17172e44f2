import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { podIps } from './cni-network.js';
import { defaultNetworkConfig, findNetworkConfig, parseNetworkConfig, selectNetwork } from './conflist.js';

describe('CNI config discovery', () => {
  it('takes the first config by file name across the dirs, and wraps a single-plugin .conf', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nexcage-cni-'));
    try {
      const a = join(root, 'a');
      const b = join(root, 'b');
      mkdirSync(a);
      mkdirSync(b);
      expect(await findNetworkConfig([a, b, join(root, 'missing')])).toBeUndefined();
      writeFileSync(join(b, '10-net.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge' }));
      writeFileSync(join(b, '99-other.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'ptp' }] }));
      writeFileSync(join(b, 'README'), 'not a config');
      const found = await findNetworkConfig([a, b]);
      expect(found?.file).toBe(join(b, '10-net.conf'));
      expect(found?.config).toMatchObject({ name: 'single', cniVersion: '0.4.0', plugins: [{ type: 'bridge' }] });
      writeFileSync(join(a, '50-first.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'first', plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] }));
      expect((await findNetworkConfig([a, b]))?.config.name).toBe('first');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('names the file and the problem for a broken config', () => {
    expect(() => parseNetworkConfig('{', '/etc/cni/net.d/x.conflist')).toThrow(/x\.conflist: not valid JSON/);
    expect(() => parseNetworkConfig('{"cniVersion":"1.0.0","plugins":[]}', 'f')).toThrow(/"name" is missing/);
    expect(() => parseNetworkConfig('{"name":"n","plugins":[]}', 'f')).toThrow(/"plugins" is empty/);
    expect(() => parseNetworkConfig('{"name":"n","plugins":[{"x":1}]}', 'f')).toThrow(/plugin 0 has no "type"/);
  });

  it('builds the built-in default network: bridge + host-local on the subnet + portmap', () => {
    const c = defaultNetworkConfig({ bridge: 'nexcage0', subnet: '10.88.0.0/16', ipamDataDir: '/run/nexcage/cni/networks' });
    expect(c.cniVersion).toBe('1.0.0');
    expect(c.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(c.plugins[0]).toMatchObject({ bridge: 'nexcage0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/16' }]], dataDir: '/run/nexcage/cni/networks' } });
    expect(c.plugins[1]?.capabilities).toEqual({ portMappings: true });
  });
});

describe('choosing the pod network', () => {
  const builtin = { bridge: 'nexcage0', subnet: '10.88.0.0/16', ipamDataDir: '/run/nexcage/cni/networks' };

  it('takes a config file over the built-in network, the built-in one without a file, and refuses with neither', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nexcage-cni-'));
    try {
      expect(await selectNetwork([dir], builtin)).toEqual({ config: defaultNetworkConfig(builtin) });
      await expect(selectNetwork([dir], undefined)).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: expect.stringContaining(`no CNI config in ${dir} and the built-in default network is off (cni.defaultNetwork)`),
      });
      writeFileSync(join(dir, '10-c.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'cluster', plugins: [{ type: 'ptp' }] }));
      expect((await selectNetwork([dir], undefined)).config.name).toBe('cluster');
      expect((await selectNetwork([dir], builtin)).file).toBe(join(dir, '10-c.conflist'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pod IPs from a CNI result', () => {
  it('keeps the sandbox interface IPs, IPv4 first, without prefix length', () => {
    const ips = podIps({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [
        { address: 'fd00::5/64', interface: 2 },
        { address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 },
        { address: '10.99.0.1/16', interface: 0 },
      ],
    });
    expect(ips).toEqual(['10.88.0.5', 'fd00::5']);
  });

  it('takes every IP when the result names no interfaces', () => {
    expect(podIps({ cniVersion: '0.4.0', ips: [{ address: '10.1.2.3/24' }] })).toEqual(['10.1.2.3']);
  });
});

describe('CNI config shapes that are refused', () => {
  it('names the file for a config that is not an object or has neither "plugins" nor "type"', () => {
    expect(() => parseNetworkConfig('42', '/etc/cni/net.d/n.conf')).toThrow('CNI config /etc/cni/net.d/n.conf: must be a JSON object');
    expect(() => parseNetworkConfig('null', 'f')).toThrow(/must be a JSON object/);
    expect(() => parseNetworkConfig('{"name":"n","cniVersion":"1.0.0"}', 'f')).toThrow('CNI config f: neither "plugins" nor "type" is set');
    expect(() => parseNetworkConfig('{"name":"n","plugins":[null]}', 'f')).toThrow(/plugin 0 has no "type"/);
    expect(() => parseNetworkConfig('{"name":"n","plugins":[{"type":"bridge"},{"type":""}]}', 'f')).toThrow(/plugin 1 has no "type"/);
  });

  it('defaults a missing cniVersion to 0.3.1 and reads disableCheck only when it is true', () => {
    expect(parseNetworkConfig('{"name":"n","type":"bridge","disableCheck":"yes"}', 'f')).toMatchObject({ cniVersion: '0.3.1', disableCheck: false });
    expect(parseNetworkConfig('{"name":"n","plugins":[{"type":"ptp"}],"disableCheck":true}', 'f').disableCheck).toBe(true);
  });

  it('a broken first config is the error, not a fall-through to the next file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nexcage-cni-'));
    try {
      writeFileSync(join(dir, '10-broken.conflist'), '{"name":');
      writeFileSync(join(dir, '20-good.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'good', plugins: [{ type: 'ptp' }] }));
      await expect(findNetworkConfig([dir])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(`${join(dir, '10-broken.conflist')}: not valid JSON`) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
