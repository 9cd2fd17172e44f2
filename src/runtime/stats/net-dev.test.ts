// Network counters, live: the test makes its own network namespace with a veth pair to the host,
// sends traffic over it, and reads the counters both through a process inside and through the
// pinned namespace file. Everything it creates is removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import { parseNetDev, readNetworkStats } from './net-dev.js';

const tag = randomBytes(3).toString('hex');
const NS = `nexcage-test-${tag}`;
const HOST_IF = `nxt${tag}h`;
// a /30 in TEST-NET-2, used only between the host end and the namespace
const HOST_IP = '198.51.100.1';
const NS_IP = '198.51.100.2';
let holder: ChildProcess | undefined;

beforeAll(async () => {
  await run('ip', ['netns', 'add', NS]);
  await run('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS]);
  await run('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF]);
  await run('ip', ['link', 'set', HOST_IF, 'up']);
  await run('ip', ['-n', NS, 'addr', 'add', `${NS_IP}/30`, 'dev', 'eth0']);
  await run('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  // a second interface that is not the default one
  await run('ip', ['-n', NS, 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'net1p']);
  // the "infra process": something that lives in the namespace
  holder = spawn('ip', ['netns', 'exec', NS, 'sleep', '300'], { stdio: 'ignore' });
});

afterAll(async () => {
  if (holder && holder.exitCode === null) {
    const exited = new Promise((r) => holder!.once('exit', r));
    holder.kill('SIGKILL');
    await exited;
  }
  // Deleting the host end removes the pair at once; a netns teardown alone frees it only when the
  // kernel gets round to the namespace cleanup, which lags on a busy host.
  await run('ip', ['link', 'del', HOST_IF], { allowFailure: true });
  await run('ip', ['netns', 'del', NS], { allowFailure: true });
  expect(existsSync(`/run/netns/${NS}`)).toBe(false);
  const links = await run('ip', ['-o', 'link', 'show']);
  expect(links.stdout).not.toContain(HOST_IF);
});

describe('network stats of a namespace', () => {
  it('parses /proc/net/dev', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
      '  eth0: 1234567    890    3    4    0     0          0         0   765432     321    5    6    0     0       0          0',
    ].join('\n');
    expect(parseNetDev(text)).toEqual([
      { name: 'lo', rxBytes: 100, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 100, txPackets: 1, txErrors: 0, txDropped: 0 },
      { name: 'eth0', rxBytes: 1234567, rxPackets: 890, rxErrors: 3, rxDropped: 4, txBytes: 765432, txPackets: 321, txErrors: 5, txDropped: 6 },
    ]);
  });

  it('bytes grow after traffic, read through the infra pid and through the pinned netns', async () => {
    const pid = await waitPid();
    const before = await readNetworkStats({ pid });
    expect(before.defaultInterface?.name).toBe('eth0');
    expect(before.interfaces.map((i) => i.name)).toEqual(['net1', 'net1p']); // lo left out, eth0 is the default
    await run('ping', ['-c', '3', '-i', '0.2', '-s', '1000', '-W', '2', NS_IP]);
    const after = await readNetworkStats({ pid });
    expect(after.defaultInterface!.rxBytes).toBeGreaterThanOrEqual(before.defaultInterface!.rxBytes + 3 * 1000);
    expect(after.defaultInterface!.txBytes).toBeGreaterThanOrEqual(before.defaultInterface!.txBytes + 3 * 1000);
    expect(after.defaultInterface!.rxErrors).toBe(0);
    expect(after.timestampNs).toBeGreaterThan(before.timestampNs);

    const viaNetns = await readNetworkStats({ netnsPath: `/run/netns/${NS}` });
    expect(viaNetns.defaultInterface!.rxBytes).toBeGreaterThanOrEqual(after.defaultInterface!.rxBytes);
    // a dead pid falls back to the pinned namespace
    const fallback = await readNetworkStats({ pid: 2 ** 22 + 1, netnsPath: `/run/netns/${NS}` });
    expect(fallback.defaultInterface!.name).toBe('eth0');
  });

  it('a gone process without a netns path is NotFound', async () => {
    await expect(readNetworkStats({ pid: 2 ** 22 + 1 })).rejects.toThrow(NotFoundError);
  });
});

/** The pid of `sleep` inside the namespace (ip netns exec execs it, so it is the holder itself). */
async function waitPid(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const { stdout } = await run('ip', ['netns', 'pids', NS]);
    const pid = Number(stdout.trim().split('\n')[0]);
    if (pid > 0) return pid;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no process showed up in the test namespace');
}
