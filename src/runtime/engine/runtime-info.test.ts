// Status and Version as the kubelet reads them: RuntimeReady follows the default handler's binary,
// the default handler is listed by name and as "", verbose info explains checkpointing, user
// namespaces and hugetlb, and the pod CIDR the kubelet sends is checked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { RuntimeHandler, RuntimeHandlers } from './runtime-handlers.js';
import { RuntimeInfo, type RuntimeInfoOptions } from './runtime-info.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-info-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const runc: RuntimeHandler = { name: 'runc', path: '/usr/sbin/runc', root: '/run/runc', systemdCgroup: false, binary: '/usr/sbin/runc', features: { recursiveReadOnlyMounts: true, userNamespaces: true } };
const kata: RuntimeHandler = { name: 'kata', path: '/opt/kata/bin/kata', root: '/run/kata', systemdCgroup: false, binary: undefined, features: { recursiveReadOnlyMounts: false, userNamespaces: false }, usernsUnsupported: 'no user namespace in `kata features`' };
const crun: RuntimeHandler = { name: 'crun', path: '/usr/bin/crun', root: '/run/crun', systemdCgroup: false, binary: '/usr/bin/crun', features: { recursiveReadOnlyMounts: false, userNamespaces: false } };

function handlers(defaultBinary: boolean): RuntimeHandlers {
  return {
    get: () => runc,
    available: async () => (defaultBinary ? runc.binary : undefined),
    list: () => [runc, kata, crun],
  } as unknown as RuntimeHandlers;
}

function info(extra: Partial<RuntimeInfoOptions> = {}): RuntimeInfo {
  return new RuntimeInfo({
    handlers: handlers(true),
    cgroupDriver: 'cgroupfs',
    cniConfDirs: [join(dir, 'cni')],
    cniBinDirs: [join(dir, 'bin')],
    effectiveConfig: { socket: '/run/nexcage.sock' },
    hugetlb: async () => false,
    ...extra,
  });
}

describe('runtime Status', () => {
  it("is RuntimeReady while the default handler's binary is there, and says which binary is missing otherwise", async () => {
    const ready = await info().status(false);
    expect(ready.conditions[0]).toEqual({ type: 'RuntimeReady', status: true, reason: '', message: '' });
    expect(ready.conditions[1]?.type).toBe('NetworkReady');
    expect(ready.info).toEqual({});
    const gone = await info({ handlers: handlers(false) }).status(false);
    expect(gone.conditions[0]).toEqual({ type: 'RuntimeReady', status: false, reason: 'RuntimeBinaryNotFound', message: 'default runtime handler "runc": binary "/usr/sbin/runc" not found or not executable' });
  });

  it('lists the default handler as "" too, each with its features', async () => {
    const s = await info().status(false);
    expect(s.handlers.map((h) => h.name)).toEqual(['', 'runc', 'kata', 'crun']);
    expect(s.handlers[0]?.features).toEqual(runc.features);
  });

  it('verbose: the config, checkpoint support, why each handler has user namespaces or not, cgroup driver, pod CIDR and hugetlb', async () => {
    let probes = 0;
    const i = info({
      hugetlb: async () => {
        probes++;
        return false;
      },
      checkpointSupport: async () => ({ available: false, criu: '', version: '', reason: 'CRIU binary "criu" not found' }),
    });
    i.updatePodCidr('10.244.0.0/24');
    const v = (await i.status(true)).info;
    expect(JSON.parse(v.config ?? '')).toEqual({ socket: '/run/nexcage.sock' });
    expect(JSON.parse(v.checkpoint ?? '')).toMatchObject({ available: false, reason: 'CRIU binary "criu" not found' });
    expect(JSON.parse(v.userNamespaces ?? '')).toEqual({ runc: { supported: true }, kata: { supported: false, reason: 'no user namespace in `kata features`' }, crun: { supported: false, reason: 'unknown' } });
    expect(JSON.parse(v.runtimeConfig ?? '')).toEqual({ podCIDR: '10.244.0.0/24', cgroupDriver: 'cgroupfs' });
    expect(JSON.parse(v.hugetlb ?? '')).toMatchObject({ controller: false, hugepageLimits: 'dropped' });
    await i.status(true);
    expect(probes).toBe(1); // probed once: controllers are mounted at boot
  });

  it('verbose without checkpoint support configured has no checkpoint key; hugetlb applied when present', async () => {
    const v = (await info({ hugetlb: async () => true }).status(true)).info;
    expect(v.checkpoint).toBeUndefined();
    expect(JSON.parse(v.hugetlb ?? '')).toEqual({ controller: true, hugepageLimits: 'applied' });
  });
});

describe('pod CIDR from the kubelet', () => {
  it('takes IPv4 and IPv6 CIDRs (comma separated), and empty to clear', () => {
    const i = info();
    i.updatePodCidr('10.244.1.0/24,fd00:10:244::/64');
    expect(i.podCidrValue()).toBe('10.244.1.0/24,fd00:10:244::/64');
    i.updatePodCidr('');
    expect(i.podCidrValue()).toBe('');
    expect(i.cgroupDriver()).toBe('cgroupfs');
  });

  it('refuses what is not a CIDR with INVALID_ARGUMENT naming it, keeping the old value', () => {
    const i = info();
    i.updatePodCidr('10.0.0.0/8');
    for (const bad of ['10.244.1.0', '10.244.1.300/24', '10.244.1.0/33', 'fd00::/129', 'abc/12', '10.0.0.0/8,nope']) {
      expect(() => i.updatePodCidr(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => i.updatePodCidr('10.244.1.0/33')).toThrow('pod CIDR "10.244.1.0/33" is not a valid CIDR');
    expect(i.podCidrValue()).toBe('10.0.0.0/8');
  });

  it('Version names the runtime and the CRI API', () => {
    expect(info().version()).toMatchObject({ runtimeName: 'nexcage', runtimeApiVersion: 'v1' });
  });
});
