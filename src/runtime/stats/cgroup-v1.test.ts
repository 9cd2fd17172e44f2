// cgroup v1 readers, live on this machine (v1 host): the test makes its own cgroups under each
// controller, runs real processes in them, reads them, and removes everything it made.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lib/errors.js';
import { CgroupReader } from './cgroup-reader.js';
import { detectCgroupLayout, v1Dir, type V1Controller } from './cgroup-paths.js';
import { CpuRateTracker } from './cpu-rate.js';

const layout = detectCgroupLayout();
const reader = new CgroupReader(layout, 'cgroupfs');
const NAME = `/nexcage-test-${randomBytes(4).toString('hex')}`;
const BUSY = `${NAME}/busy`;
const HOG = `${NAME}/hog`;
const CONTROLLERS: V1Controller[] = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'];
const children: ChildProcess[] = [];

function dirs(cgroup: string): string[] {
  return CONTROLLERS.flatMap((c) => {
    const d = v1Dir(layout, c, cgroup);
    return d ? [d] : [];
  });
}

/** Start `args` inside `cgroup`: the shell joins every controller first, then execs, so all is charged there. */
function startIn(cgroup: string, script: string): ChildProcess {
  const procs = dirs(cgroup).map((d) => `${d}/cgroup.procs`);
  const p = spawn('sh', ['-c', `for f in ${procs.join(' ')}; do echo $$ > $f; done; ${script}`], { stdio: 'ignore' });
  children.push(p);
  return p;
}

async function until<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(() => {
  for (const cg of [NAME, BUSY, HOG]) for (const d of dirs(cg)) mkdirSync(d);
});

afterAll(async () => {
  await Promise.all(
    children.map(
      (p) =>
        new Promise<void>((r) => {
          if (p.exitCode !== null || p.signalCode !== null) return r();
          p.once('exit', () => r());
          p.kill('SIGKILL');
        }),
    ),
  );
  // A cgroup can stay busy for a moment after its last task exits.
  for (const cg of [BUSY, HOG, NAME]) {
    for (const d of dirs(cg)) {
      for (let i = 0; existsSync(d); i++) {
        try {
          rmdirSync(d);
        } catch (err) {
          if (i > 50) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }
  for (const d of dirs(NAME)) expect(existsSync(d)).toBe(false);
});

describe('cgroup v1 reader (live)', () => {
  it('a busy loop shows about one core of usage_nano_cores and counts its process', async () => {
    startIn(BUSY, 'while :; do :; done');
    const first = await until('the loop to run in its cgroup', async () => {
      const s = await reader.container(BUSY);
      return s.pids.current >= 1 && s.cpu.usageNs > 0 ? s : undefined;
    });
    expect(first.version).toBe(1);
    const rates = new CpuRateTracker(1e9);
    rates.observe('busy', { timestampNs: first.timestampNs, usageNs: first.cpu.usageNs });
    await new Promise((r) => setTimeout(r, 2000));
    const second = await reader.container(BUSY);
    const rate = rates.observe('busy', { timestampNs: second.timestampNs, usageNs: second.cpu.usageNs });
    // Generous bounds: 2 cores shared with other test runs (load averages of 8 happen here): a busy
    // loop then gets a fair share near 0.2 cores; an idle process stays near 0.
    expect(rate).toBeGreaterThan(0.15e9);
    expect(rate).toBeLessThan(1.2e9);
    expect(second.cpu.userNs + second.cpu.systemNs).toBeGreaterThan(0);
    expect(second.pids.current).toBe(1);
    // the parent's view includes the child
    const parent = await reader.read(NAME);
    expect(parent.cpu.usageNs).toBeGreaterThanOrEqual(second.cpu.usageNs);
  });

  it('a process holding 64 MiB shows working set >= 64 MiB, below usage, with rss counted', async () => {
    startIn(HOG, `exec ${process.execPath} -e "globalThis.b = Buffer.alloc(64 << 20, 1); setInterval(() => {}, 1000)"`);
    const s = await until('the 64 MiB to be charged', async () => {
      const x = await reader.container(HOG);
      return x.memory.rssBytes >= 64 * 2 ** 20 ? x : undefined;
    });
    expect(s.memory.workingSetBytes).toBeGreaterThanOrEqual(64 * 2 ** 20);
    expect(s.memory.workingSetBytes).toBeLessThanOrEqual(s.memory.usageBytes);
    expect(s.memory.pageFaults).toBeGreaterThan(16384); // 64 MiB of 4 KiB pages touched
    expect(s.memory.limitBytes).toBeUndefined();
    expect(s.memory.maxUsageBytes).toBeGreaterThanOrEqual(s.memory.usageBytes);
    expect(s.memory.oomKills).toBe(0);
  });

  it('a memory limit is reported with its failcnt; a missing cgroup is NotFound', async () => {
    for (const d of dirs(`${NAME}/limited`)) mkdirSync(d);
    try {
      writeFileSync(`${v1Dir(layout, 'memory', `${NAME}/limited`)}/memory.limit_in_bytes`, String(256 * 2 ** 20));
      const s = await reader.container(`${NAME}/limited`);
      expect(s.memory.limitBytes).toBe(256 * 2 ** 20);
      expect(s.memory.usageBytes).toBe(0);
      expect(s.pids.current).toBe(0);
    } finally {
      for (const d of dirs(`${NAME}/limited`)) rmdirSync(d);
    }
    await expect(reader.container(`${NAME}/nope`)).rejects.toThrow(NotFoundError);
  });
});
