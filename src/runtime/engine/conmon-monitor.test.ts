// reopenLog against a stand-in for conmon's ctl FIFO reader: a shell that reads the "2 0 0" line
// and, some time later, does what conmon does (write <log>.tmp, rename it over <log>). The real
// conmon is exercised by the e2e tests; here the ordering and the timeout are pinned down.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { ConmonMonitor } from './conmon-monitor.js';

let dir = '';
let reader: ChildProcess | undefined;

/**
 * Holds the ctl FIFO open read-write (as conmon does, so opening it never blocks), reads one line
 * into <dir>/ctl.seen, waits `delay` seconds, then (if `reopen`) replaces the log as conmon does.
 */
function fakeConmon(delay: string, reopen: boolean): void {
  const log = join(dir, 'c.log');
  const script = `exec 3<>"${dir}/ctl"; read line <&3; printf '%s' "$line" > "${dir}/ctl.seen"; sleep ${delay}; ${reopen ? `echo new > "${log}.tmp" && mv "${log}.tmp" "${log}"` : 'true'}`;
  reader = spawn('sh', ['-c', script], { stdio: 'ignore' });
}

function monitor(reopenTimeoutMs?: number): ConmonMonitor {
  return new ConmonMonitor({ binary: '/bin/false', socketDir: join(dir, 'sock'), log: silentLogger(), ...(reopenTimeoutMs ? { reopenTimeoutMs } : {}) });
}

describe('ConmonMonitor.reopenLog', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-conmon-'));
    execFileSync('mkfifo', [join(dir, 'ctl')]);
  });
  afterEach(() => {
    reader?.kill('SIGKILL');
    reader = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns only once the monitor has put a new file at the log path (after a rename and without one)', async () => {
    const log = join(dir, 'c.log');
    writeFileSync(log, 'old\n');
    renameSync(log, `${log}.1`);
    // The reader must hold the FIFO before the write (a non-blocking open fails with ENXIO otherwise).
    fakeConmon('0.3', true);
    const m = monitor();
    await waitForReader();
    await m.reopenLog(dir, log);
    expect(readFileSync(join(dir, 'ctl.seen'), 'utf8')).toBe('2 0 0');
    expect(readFileSync(log, 'utf8')).toBe('new\n');

    // Not renamed: the file exists all along, so only a new inode at the path means "reopened".
    const before = statSync(log).ino;
    fakeConmon('0.3', true);
    await waitForReader();
    await m.reopenLog(dir, log);
    expect(statSync(log).ino).not.toBe(before);
  });

  it('fails naming the log path when the monitor reads the request but never reopens', async () => {
    const log = join(dir, 'c.log');
    fakeConmon('0', false);
    await waitForReader();
    await expect(monitor(300).reopenLog(dir, log)).rejects.toThrow(new RegExp(`did not reopen log "${log}" within 300 ms`));
    expect(existsSync(log)).toBe(false);
  });

  it('fails at once when no monitor holds the ctl FIFO', async () => {
    await expect(monitor().reopenLog(dir, join(dir, 'c.log'))).rejects.toThrow(/is not running \(ctl FIFO/);
  });
});

/** Until the stand-in holds the ctl FIFO open (its fd shows in /proc). */
async function waitForReader(): Promise<void> {
  const ctl = join(dir, 'ctl');
  const deadline = Date.now() + 5000;
  while (!fdTargets(reader?.pid).includes(ctl)) {
    if (Date.now() > deadline) throw new Error('the stand-in monitor never opened its ctl FIFO');
    await new Promise((r) => setImmediate(r));
  }
}

function fdTargets(pid: number | undefined): string[] {
  if (!pid) return [];
  try {
    return readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
  } catch {
    return [];
  }
}
