import { describe, expect, it } from 'vitest';
import { oomKillCount } from './container-oom.js';

describe('oomKillCount', () => {
  it('reads the counter of cgroup v1 memory.oom_control and v2 memory.events', () => {
    expect(oomKillCount('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')).toBe(2);
    expect(oomKillCount('low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n')).toBe(1);
    expect(oomKillCount('oom_kill_disable 0\nunder_oom 0\n')).toBe(0);
  });
});
