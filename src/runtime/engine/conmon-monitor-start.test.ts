// ConmonMonitor.start against a stand-in conmon (a shell script speaking conmon's sync-pipe
// protocol on fd 3): the argv a container's options become, the pid it reports, and what a failed
// create says (the monitor's message, the runtime's JSON log errors). The real conmon is run by
// the e2e tests.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandError, InternalError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { FakeRuntime, World } from '../test-fakes.js';
import { ConmonMonitor } from './conmon-monitor.js';
import type { MonitorStartOptions } from './monitor.js';

let dir: string;
let bundle: string;

/** Records its argv (one per line), then runs <dir>/conmon.sh; cwd is the bundle. */
const FAKE_CONMON = `#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/argv"
. "$(dirname "$0")/conmon.sh"
`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-conmon-start-'));
  bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(dir, 'conmon'), FAKE_CONMON);
  chmodSync(join(dir, 'conmon'), 0o755);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** What the stand-in does (a shell snippet run in the bundle dir, fd 3 the sync pipe). */
function behave(script: string): void {
  writeFileSync(join(dir, 'conmon.sh'), script);
}

function argv(): string[] {
  return readFileSync(join(dir, 'argv'), 'utf8').trimEnd().split('\n');
}

function monitor(): ConmonMonitor {
  return new ConmonMonitor({ binary: join(dir, 'conmon'), socketDir: join(dir, 'sock'), log: silentLogger() });
}

function options(extra: Partial<MonitorStartOptions> = {}): MonitorStartOptions {
  return { id: 'c1', bundle, runtime: new FakeRuntime(new World(dir)), logPath: join(dir, 'c1.log'), exitDir: join(dir, 'exits'), ...extra };
}

/** The value following `flag` in argv, each time it appears. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

describe('ConmonMonitor.start', () => {
  it("reports the container's pid and conmon's own pid once conmon says the container is created", async () => {
    behave(`echo 4321 > conmon.pid; echo '{"data": 1234}' >&3`);
    expect(await monitor().start(options())).toEqual({ pid: 1234, monitorPid: 4321 });
    const args = argv();
    expect(values(args, '--cid')).toEqual(['c1']);
    expect(values(args, '--runtime')).toEqual(['/usr/bin/fake-runc']);
    expect(values(args, '--bundle')).toEqual([bundle]);
    expect(values(args, '--log-path')).toEqual([`k8s-file:${join(dir, 'c1.log')}`]);
    expect(values(args, '--exit-dir')).toEqual([join(dir, 'exits')]);
    // The runtime's global flags reach it as runtime args; conmon's socket dir exists (it exits silently otherwise).
    expect(values(args, '--runtime-arg')).toEqual(['--root', join(dir, 'runc')]);
    expect(existsSync(join(dir, 'sock'))).toBe(true);
    for (const flag of ['--terminal', '--stdin', '--leave-stdin-open', '--restore', '--log-size-max', '--systemd-cgroup']) expect(args).not.toContain(flag);
  });

  it('passes the TTY, stdin, log cap and no-log choices, and a restore in place of a create', async () => {
    behave(`echo 4321 > conmon.pid; echo '{"pid": 99}' >&3`);
    const started = await monitor().start(
      options({
        logPath: '',
        terminal: true,
        stdin: true,
        leaveStdinOpen: true,
        logSizeMax: 4096,
        restore: { imagePath: '/w/checkpoint', runtimeArgs: ['--criu=/opt/criu'], runtimeOpts: ['--tcp-established', '--file-locks'] },
      }),
    );
    expect(started.pid).toBe(99);
    const args = argv();
    expect(values(args, '--log-path')).toEqual(['none']);
    expect(values(args, '--log-size-max')).toEqual(['4096']);
    expect(values(args, '--restore')).toEqual(['/w/checkpoint']);
    expect(values(args, '--runtime-opt')).toEqual(['--tcp-established', '--file-locks']);
    expect(values(args, '--runtime-arg')).toEqual(['--root', join(dir, 'runc'), '--criu=/opt/criu']);
    for (const flag of ['--terminal', '--stdin', '--leave-stdin-open']) expect(args).toContain(flag);
  });

  it("fails with conmon's message and the runtime's JSON log errors when the create failed", async () => {
    behave(
      `echo '{"level":"error","msg":"runc create failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH"}' > runtime.log; echo '{"data": -1, "message": "runtime create failed"}' >&3; exit 1`,
    );
    const err = (await monitor()
      .start(options())
      .catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.stderr.split('\n')).toEqual(['runtime create failed', 'runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH']);
  });

  it('fails saying no pid was reported when conmon exits without a word or with garbage', async () => {
    behave('exit 0');
    await expect(monitor().start(options())).rejects.toThrow(/conmon reported no container pid/);
    behave(`echo 'not json' >&3`);
    await expect(monitor().start(options())).rejects.toThrow(/conmon reported no container pid/);
  });

  it('fails when conmon reports a pid but wrote no pid file of its own (it could not be tracked)', async () => {
    behave(`echo '{"data": 1234}' >&3`);
    const err = await monitor()
      .start(options())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toBe('conmon for "c1" reported pid 1234 but wrote no pid file');
  });
});

describe('ConmonMonitor pid file and ctl', () => {
  it('reads the pid file, undefined when missing or not a pid', async () => {
    const m = monitor();
    expect(await m.monitorPid(bundle)).toBeUndefined();
    writeFileSync(join(bundle, 'conmon.pid'), 'garbage');
    expect(await m.monitorPid(bundle)).toBeUndefined();
    writeFileSync(join(bundle, 'conmon.pid'), '77\n');
    expect(await m.monitorPid(bundle)).toBe(77);
  });

  it('resize of a container whose monitor is gone says so (no FIFO reader)', async () => {
    await expect(monitor().resize(bundle, 24, 80)).rejects.toThrow(`container monitor in ${bundle} is not running`);
  });
});
