import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CgroupLayout } from '../stats/cgroup-paths.js';
import { oomKillCount, wasOomKilled } from './container-oom.js';

describe('oomKillCount', () => {
  it('reads the counter of cgroup v1 memory.oom_control and v2 memory.events', () => {
    expect(oomKillCount('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')).toBe(2);
    expect(oomKillCount('low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n')).toBe(1);
    expect(oomKillCount('oom_kill_disable 0\nunder_oom 0\n')).toBe(0);
  });
});

// The OOMKilled reason: conmon's marker in the bundle, else the container cgroup's own counter
// (on a stand-in cgroup tree: the layout's mount points are temp dirs).
describe('whether a container was OOM killed', () => {
  let dir: string;
  let bundle: string;
  const cgroupsPath = '/nexcage-unit/pod/ctr';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-oom-'));
    bundle = join(dir, 'bundle');
    mkdirSync(bundle);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const v1: () => CgroupLayout = () => ({ version: 1, controllers: { memory: { mountPoint: join(dir, 'memory'), root: '/' } } });
  const v2: () => CgroupLayout = () => ({ version: 2, unified: { mountPoint: join(dir, 'unified'), root: '/' }, controllers: {} });

  function counter(layout: CgroupLayout, text: string): void {
    const d = layout.version === 2 ? join(dir, 'unified', cgroupsPath) : join(dir, 'memory', cgroupsPath);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, layout.version === 2 ? 'memory.events' : 'memory.oom_control'), text);
  }

  it("yes when conmon left its marker, whatever the cgroup says", async () => {
    writeFileSync(join(bundle, 'oom'), '');
    expect(await wasOomKilled(bundle, undefined, 'cgroupfs', cgroupsPath)).toBe(true);
  });

  it("by the cgroup's oom_kill counter when conmon missed the event (v1 and v2)", async () => {
    counter(v1(), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    expect(await wasOomKilled(bundle, v1(), 'cgroupfs', cgroupsPath)).toBe(true);
    counter(v1(), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
    expect(await wasOomKilled(bundle, v1(), 'cgroupfs', cgroupsPath)).toBe(false);
    counter(v2(), 'oom 1\noom_kill 3\n');
    expect(await wasOomKilled(bundle, v2(), 'cgroupfs', cgroupsPath)).toBe(true);
  });

  it('no when there is nothing to read: no layout, no cgroup, a cgroup already gone, no memory hierarchy', async () => {
    expect(await wasOomKilled(bundle, undefined, 'cgroupfs', cgroupsPath)).toBe(false);
    expect(await wasOomKilled(bundle, v1(), 'cgroupfs', '')).toBe(false);
    expect(await wasOomKilled(bundle, v1(), 'cgroupfs', cgroupsPath)).toBe(false);
    expect(await wasOomKilled(bundle, { version: 1, controllers: {} }, 'cgroupfs', cgroupsPath)).toBe(false);
    expect(await wasOomKilled(bundle, v1(), 'systemd', 'not-a-systemd-path')).toBe(false);
  });
});
