// `nexcage doctor` on this very machine, next to a running daemon and a real registry: its verdicts
// must match facts read here independently (cgroup version and hierarchies, systemd as PID 1,
// AppArmor), whatever machine the tests run on.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRegistry } from '../support/registry.js';
import { Daemon, runCli, useTestDir } from './harness.js';

const t = useTestDir();

interface Result {
  check: string;
  level: 'ok' | 'warn' | 'fail';
  message: string;
  fix: string;
}

describe('nexcage doctor on this machine', () => {
  let registry: TestRegistry;
  let d: Daemon;
  let results: Result[];
  let code: number | null;

  beforeAll(async () => {
    registry = await TestRegistry.start({ parent: t.dir().path });
    d = t.track(new Daemon(t.dir(), 'doc', { config: { registry: { mirrors: { 'docker.io': [registry.url] } } } }));
    await d.start();
    const kubelet = t.dir().join('kubelet.yaml');
    const driver = existsSync('/run/systemd/system') && existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'systemd' : 'cgroupfs';
    writeFileSync(kubelet, `kind: KubeletConfiguration\ncgroupDriver: ${driver}\ncontainerRuntimeEndpoint: unix://${d.socket}\n`);
    const r = await runCli(['doctor', '--json', '--config', d.configPath, '--kubelet-config', kubelet, '--registry', 'http://127.0.0.1:1']);
    code = r.code;
    results = (JSON.parse(r.stdout) as { results: Result[] }).results;
  });
  afterAll(async () => {
    await d?.stop();
    await registry?.stop();
  });

  const get = (check: string): Result => {
    const r = results.find((x) => x.check === check);
    if (!r) throw new Error(`no ${check} in ${JSON.stringify(results)}`);
    return r;
  };

  it('finds the runtimes, the running daemon behind its socket, the mirror and a clock in step', () => {
    expect(get('runtime:runc')).toMatchObject({ level: 'ok', message: expect.stringMatching(/^handler "runc" \(default\): \S+ version \d+\.\d+/) });
    expect(get('conmon').level).toBe('ok');
    expect(get('socket')).toMatchObject({ level: 'ok', message: expect.stringContaining('mode 660, uid 0') });
    expect(get('kubelet-endpoint').level).toBe('ok');
    expect(get('cgroup-driver').level).toBe('ok');
    expect(get('registry-mirror')).toMatchObject({ level: 'ok', message: `mirror ${registry.url} of docker.io answers (HTTP 200)` });
    expect(get('clock')).toMatchObject({ level: 'ok', message: expect.stringContaining(`of ${registry.url}`) });
    expect(get('overlayfs').level).toBe('ok');
  });

  it('reports the cgroup version, hugetlb, systemd and AppArmor as they are here', () => {
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    expect(get('cgroups')).toMatchObject(v2 ? { level: 'ok', message: 'cgroup v2 (unified hierarchy)' } : { level: 'warn', message: expect.stringMatching(/^cgroup v1/) });
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    const hugetlb = v2 ? readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('hugetlb') : / - cgroup \S+ \S*hugetlb/.test(mountinfo);
    if (!hugetlb) expect(get('cgroup-controllers')).toMatchObject({ level: 'warn', message: expect.stringContaining('missing: hugetlb') });
    else expect(get('cgroup-controllers').message).not.toContain('hugetlb (');
    const systemd = existsSync('/run/systemd/system');
    if (!systemd) expect(get('cgroup-driver').message).toContain('systemd is not PID 1');
    let apparmor = '';
    try {
      apparmor = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim();
    } catch {
      // no AppArmor module
    }
    expect(get('apparmor').message).toMatch(apparmor === 'Y' ? /^enabled/ : /^not enabled/);
  });

  it('exits with the worst level: 0 OK, 1 WARN, 2 FAIL', () => {
    const worst = results.some((r) => r.level === 'fail') ? 2 : results.some((r) => r.level === 'warn') ? 1 : 0;
    expect(code).toBe(worst);
  });
});
