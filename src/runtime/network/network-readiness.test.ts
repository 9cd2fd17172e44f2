import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkNetworkReadiness, DEFAULT_NETWORK_PLUGINS, NetworkReadinessCache } from './network-readiness.js';

describe('network readiness', () => {
  let root: string;
  let conf: string;
  let bin: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'nexcage-netready-'));
    conf = join(root, 'net.d');
    bin = join(root, 'bin');
    mkdirSync(conf);
    mkdirSync(bin);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const plugin = (name: string): void => {
    writeFileSync(join(bin, name), '#!/bin/sh\n');
    chmodSync(join(bin, name), 0o755);
  };
  const conflist = (name: string, types: string[]): void =>
    writeFileSync(join(conf, name), JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins: types.map((type) => ({ type })) }));

  it('is ready with no CNI config when the built-in network is on and its plugins are installed', async () => {
    for (const p of DEFAULT_NETWORK_PLUGINS) plugin(p);
    expect(await checkNetworkReadiness([conf], [bin], { defaultNetwork: true })).toEqual({ ready: true, reason: '', message: '' });
  });

  it('names the built-in network plugins that are missing', async () => {
    plugin('bridge');
    const r = await checkNetworkReadiness([conf], [bin], { defaultNetwork: true });
    expect(r).toMatchObject({ ready: false, reason: 'NetworkPluginNotReady' });
    expect(r.message).toContain('host-local, portmap, loopback');
  });

  it('is not ready with no CNI config when the built-in network is off, even with every plugin installed', async () => {
    for (const p of DEFAULT_NETWORK_PLUGINS) plugin(p);
    const r = await checkNetworkReadiness([conf, join(root, 'missing')], [bin], { defaultNetwork: false });
    expect(r.ready).toBe(false);
    expect(r.reason).toBe('NetworkPluginNotReady');
    expect(r.message).toContain(`no CNI config in ${conf}, ${join(root, 'missing')}`);
    expect(r.message).toContain('cni.defaultNetwork');
  });

  it('becomes ready as soon as a config with installed plugins appears, without any restart', async () => {
    plugin('loopback');
    plugin('ptp');
    expect((await checkNetworkReadiness([conf], [bin], { defaultNetwork: false })).ready).toBe(false);
    writeFileSync(join(conf, 'README'), 'not a config');
    expect((await checkNetworkReadiness([conf], [bin], { defaultNetwork: false })).ready).toBe(false);
    conflist('10-cluster.conflist', ['ptp']);
    expect(await checkNetworkReadiness([conf], [bin], { defaultNetwork: false })).toEqual({ ready: true, reason: '', message: '' });
  });

  it('judges a config by its own plugins and IPAM, not the built-in ones', async () => {
    plugin('loopback');
    writeFileSync(join(conf, '10-c.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'c', plugins: [{ type: 'ptp', ipam: { type: 'static' } }] }));
    const r = await checkNetworkReadiness([conf], [bin], { defaultNetwork: false });
    expect(r).toMatchObject({ ready: false, reason: 'NetworkPluginNotReady' });
    expect(r.message).toMatch(/10-c\.conflist needs plugins missing from .*: ptp, static$/);
  });

  it('reports an unparsable config as NetworkPluginInvalidConfig naming the file', async () => {
    writeFileSync(join(conf, '00-bad.conf'), '{');
    const r = await checkNetworkReadiness([conf], [bin], { defaultNetwork: false });
    expect(r).toMatchObject({ ready: false, reason: 'NetworkPluginInvalidConfig' });
    expect(r.message).toContain('00-bad.conf');
  });

  it('keeps the built-in network on when no option is given', async () => {
    for (const p of DEFAULT_NETWORK_PLUGINS) plugin(p);
    expect((await checkNetworkReadiness([conf], [bin])).ready).toBe(true);
  });

  describe('NetworkReadinessCache', () => {
    // mtimes move in clock ticks (a few ms): a change made in the tick of the cached read is
    // moved to a later second, as it would be on a node where the change comes later.
    let tick = 0;
    const later = (dir: string): void => {
      tick += 1;
      const t = new Date(Date.now() + tick * 1000);
      utimesSync(dir, t, t);
    };

    it('answers from the cache while nothing changed, and sees a plugin removed or a config replaced at once', async () => {
      for (const p of ['loopback', 'bridge', 'host-local']) plugin(p);
      conflist('10-net.conflist', ['bridge']);
      const cache = new NetworkReadinessCache([conf], [bin], { defaultNetwork: true });
      expect(await cache.check()).toMatchObject({ ready: true });
      rmSync(join(bin, 'bridge'));
      later(bin);
      expect(await cache.check()).toMatchObject({ ready: false, reason: 'NetworkPluginNotReady' });
      plugin('bridge');
      later(bin);
      expect(await cache.check()).toMatchObject({ ready: true });
      // A new config file that sorts first (the dir's mtime changes) is read at once.
      conflist('05-other.conflist', ['macvlan']);
      later(conf);
      const r = await cache.check();
      expect(r).toMatchObject({ ready: false });
      expect(r.message).toContain('macvlan');
    });

    it('does not re-read an unchanged config on every call', async () => {
      for (const p of ['loopback', 'bridge']) plugin(p);
      conflist('10-net.conflist', ['bridge']);
      const cache = new NetworkReadinessCache([conf], [bin], { defaultNetwork: true }, 60_000);
      const first = await cache.check();
      expect(first).toMatchObject({ ready: true });
      expect(await cache.check()).toBe(first);
    });

    it('keeps no answer while not ready: a config that becomes valid is seen on the next call', async () => {
      plugin('loopback');
      writeFileSync(join(conf, '10-net.conflist'), '{ not json');
      const cache = new NetworkReadinessCache([conf], [bin], { defaultNetwork: true }, 60_000);
      expect(await cache.check()).toMatchObject({ ready: false, reason: 'NetworkPluginInvalidConfig' });
      plugin('bridge');
      conflist('10-net.conflist', ['bridge']);
      expect(await cache.check()).toMatchObject({ ready: true });
    });

    it('re-checks in the background once the answer is older than its max age, keeping the same answer object while it says the same', async () => {
      for (const p of ['loopback', 'bridge']) plugin(p);
      conflist('10-net.conflist', ['bridge']);
      const cache = new NetworkReadinessCache([conf], [bin], { defaultNetwork: true }, 0);
      const first = await cache.check();
      expect(first).toMatchObject({ ready: true });
      const until = async (what: string, done: (r: Awaited<ReturnType<typeof cache.check>>) => boolean): Promise<void> => {
        const deadline = Date.now() + 5_000;
        while (!done(await cache.check())) {
          if (Date.now() > deadline) throw new Error(`no ${what} within 5 s`);
          await new Promise((r) => setImmediate(r));
        }
      };
      // Stale at once (max age 0): every call starts a refresh behind it, and an unchanged answer stays the object it was.
      for (let i = 0; i < 20; i++) {
        expect(await cache.check()).toBe(first);
        await new Promise((r) => setImmediate(r));
      }
      // Rewritten in place with its dir's and its own mtimes put back: no stat sees it, a refresh does.
      const file = join(conf, '10-net.conflist');
      const [dirTimes, fileTimes] = [statSync(conf), statSync(file)];
      conflist('10-net.conflist', ['macvlan']);
      utimesSync(file, fileTimes.atime, fileTimes.mtime);
      utimesSync(conf, dirTimes.atime, dirTimes.mtime);
      await until('refresh that sees the macvlan config', (r) => !r.ready && r.message.includes('macvlan'));
    });
  });
});
