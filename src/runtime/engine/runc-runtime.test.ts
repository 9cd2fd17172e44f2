// RuncRuntime against a stand-in runc (a shell script): the argv each call passes, what a failure
// says (the runtime's JSON log lines, not its empty stderr), and the calls that must tolerate an
// unknown container (state, delete).
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandError } from '../../lib/errors.js';
import { RuncRuntime } from './runc-runtime.js';

let dir: string;

/**
 * The stand-in: records "<global flags> | <command> <args>" and stdin per call, then runs
 * <dir>/<command>.sh (when present) with $log set to the --log path and $@ the command's args.
 */
const FAKE_RUNC = `#!/bin/sh
dir=$(dirname "$0")
log=""
globals=""
while [ $# -gt 0 ]; do
  case "$1" in
    --log=*) log="\${1#--log=}"; globals="$globals --log";;
    --*) globals="$globals $1";;
    *) break;;
  esac
  shift
done
cmd=$1; shift
echo "$globals | $cmd $*" >> "$dir/calls"
if [ "$cmd" = update ]; then cat > "$dir/stdin"; fi
if [ -f "$dir/$cmd.sh" ]; then . "$dir/$cmd.sh"; fi
exit 0
`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-runc-'));
  writeFileSync(join(dir, 'runc'), FAKE_RUNC);
  chmodSync(join(dir, 'runc'), 0o755);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function runtime(extra: { systemdCgroup?: boolean; timeoutMs?: number } = {}): RuncRuntime {
  return new RuncRuntime({ handler: 'runc', binary: join(dir, 'runc'), root: join(dir, 'root'), systemdCgroup: extra.systemdCgroup ?? false, ...(extra.timeoutMs ? { timeoutMs: extra.timeoutMs } : {}) });
}

/** What `command` does when called: a shell snippet ($log: the call's JSON log; $@: its args). */
function behave(command: string, script: string): void {
  writeFileSync(join(dir, `${command}.sh`), script);
}

function calls(): string[] {
  return existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trimEnd().split('\n') : [];
}

const ERROR_LOG = `echo '{"level":"info","msg":"starting"}' > "$log"; echo '{"level":"error","msg":"container_linux.go:380: starting container process caused: exec: \\"/nope\\": no such file or directory"}' >> "$log"`;

describe('runc calls', () => {
  it('pass the root, a JSON log and the cgroup mode, then the command with its id last', async () => {
    const r = runtime({ systemdCgroup: true });
    await r.create('abc', { bundle: '/b', pidFile: '/b/pid', consoleSocket: '/b/console.sock' });
    await r.create('def', { bundle: '/b2', pidFile: '/b2/pid' });
    await r.start('abc');
    await r.kill('abc', 'SIGTERM');
    await r.kill('abc', 'SIGKILL', { all: true });
    await r.pause('abc');
    await r.resume('abc');
    await r.delete('abc', { force: true });
    const root = `--root=${join(dir, 'root')}`;
    expect(calls()).toEqual([
      ` ${root} --log --log-format=json --systemd-cgroup | create --bundle /b --pid-file /b/pid --console-socket /b/console.sock abc`,
      ` ${root} --log --log-format=json --systemd-cgroup | create --bundle /b2 --pid-file /b2/pid def`,
      ` ${root} --log --log-format=json --systemd-cgroup | start abc`,
      ` ${root} --log --log-format=json --systemd-cgroup | kill abc SIGTERM`,
      ` ${root} --log --log-format=json --systemd-cgroup | kill --all abc SIGKILL`,
      ` ${root} --log --log-format=json --systemd-cgroup | pause abc`,
      ` ${root} --log --log-format=json --systemd-cgroup | resume abc`,
      ` ${root} --log --log-format=json --systemd-cgroup | delete --force abc`,
    ]);
    // Each call's JSON log is removed once read.
    expect(readdirSync(join(dir, 'root', '.logs'))).toEqual([]);
  });

  it("a failure says why with the runtime's error log lines (runc's stderr is usually empty)", async () => {
    behave('create', `${ERROR_LOG}; exit 1`);
    const err = await runtime()
      .create('abc', { bundle: '/b', pidFile: '/b/pid' })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    const ce = err as CommandError;
    expect(ce.code).toBe('INTERNAL');
    expect(ce.exitCode).toBe(1);
    expect(ce.stderr).toBe('container_linux.go:380: starting container process caused: exec: "/nope": no such file or directory');
    expect(ce.message).toContain('create --bundle /b --pid-file /b/pid abc: exit code 1: container_linux.go:380');
    expect(readdirSync(join(dir, 'root', '.logs'))).toEqual([]);
  });

  it('a failure keeps what the runtime printed on stderr before its log lines', async () => {
    behave('start', `echo "runc: something odd" >&2; ${ERROR_LOG}; exit 2`);
    const err = (await runtime()
      .start('abc')
      .catch((e: unknown) => e)) as CommandError;
    expect(err.stderr.split('\n')).toEqual(['runc: something odd', 'container_linux.go:380: starting container process caused: exec: "/nope": no such file or directory']);
  });

  it('a runtime that hangs fails the call once its timeout passes, naming it', async () => {
    behave('pause', 'exec sleep 30');
    const started = Date.now();
    const err = (await runtime({ timeoutMs: 300 })
      .pause('abc')
      .catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.message).toMatch(/pause abc: .*timed out/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('state', () => {
  it('is the parsed state of a known container', async () => {
    behave('state', `echo '{"id":"abc","pid":42,"status":"running","bundle":"/b"}'`);
    expect(await runtime().state('abc')).toEqual({ id: 'abc', pid: 42, status: 'running', bundle: '/b' });
  });

  it('is undefined for a container the runtime does not know (with or without a message)', async () => {
    behave('state', 'echo "container does not exist" >&2; exit 1');
    expect(await runtime().state('abc')).toBeUndefined();
    behave('state', 'exit 1');
    expect(await runtime().state('abc')).toBeUndefined();
  });

  it('throws for any other failure', async () => {
    behave('state', 'echo "permission denied reading state.json" >&2; exit 1');
    await expect(runtime().state('abc')).rejects.toThrow(/state abc: exit code 1: permission denied reading state.json/);
  });
});

describe('delete', () => {
  it('of a container that is already gone succeeds (idempotent)', async () => {
    behave('delete', 'echo "container does not exist" >&2; exit 1');
    behave('state', 'echo "container does not exist" >&2; exit 1');
    await runtime().delete('abc');
    expect(calls().map((c) => c.split(' | ')[1])).toEqual(['delete abc', 'state abc']);
  });

  it('that fails while the container still exists throws', async () => {
    behave('delete', 'echo "cannot delete a running container" >&2; exit 1');
    behave('state', `echo '{"id":"abc","pid":42,"status":"running","bundle":"/b"}'`);
    await expect(runtime().delete('abc')).rejects.toThrow(/delete abc: exit code 1: cannot delete a running container/);
  });
});

describe('list, ps, features, update, exec', () => {
  it('list: every container, none when runc prints nothing or null', async () => {
    behave('list', `echo '[{"id":"a","pid":1,"status":"running","bundle":"/a"}]'`);
    expect((await runtime().list()).map((s) => s.id)).toEqual(['a']);
    behave('list', 'echo null');
    expect(await runtime().list()).toEqual([]);
    behave('list', 'true');
    expect(await runtime().list()).toEqual([]);
  });

  it("ps: the container's pids, none when runc prints nothing or null", async () => {
    behave('ps', 'echo "[3,4]"');
    expect(await runtime().ps('abc')).toEqual([3, 4]);
    behave('ps', 'echo null');
    expect(await runtime().ps('abc')).toEqual([]);
    behave('ps', 'true');
    expect(await runtime().ps('abc')).toEqual([]);
    expect(calls().at(-1)).toContain('| ps --format json abc');
  });

  it('features: the parsed JSON', async () => {
    behave('features', `echo '{"ociVersionMax":"1.1.0"}'`);
    expect(await runtime().features()).toEqual({ ociVersionMax: '1.1.0' });
  });

  it('update: the resources as JSON on stdin', async () => {
    await runtime().update('abc', { memory: { limit: 1024 } });
    expect(calls()).toEqual([expect.stringMatching(/\| update --resources - abc$/)]);
    expect(JSON.parse(readFileSync(join(dir, 'stdin'), 'utf8'))).toEqual({ memory: { limit: 1024 } });
  });

  it('exec: every option in argv; a failing process is a result, not an error', async () => {
    behave('exec', 'echo out; echo err >&2; exit 3');
    const res = await runtime().exec('abc', { processPath: '/p.json', detach: true, pidFile: '/pid', tty: true, consoleSocket: '/c.sock' });
    expect(res).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    await runtime().exec('abc', { processPath: '/p.json' });
    expect(calls().map((c) => c.split(' | ')[1])).toEqual(['exec --process /p.json --detach --pid-file /pid --tty --console-socket /c.sock abc', 'exec --process /p.json abc']);
  });
});

describe('checkpoint argv (run by the checkpoint helper, not here)', () => {
  it('has the global flags, the CRIU binary and the options asked for', () => {
    const r = runtime();
    const base = { criu: '/opt/criu', imagePath: '/w/checkpoint', workPath: '/w', logPath: '/w/runtime.log' };
    expect(r.checkpointArgs('abc', { ...base, leaveRunning: true, tcpEstablished: true, fileLocks: true })).toEqual([
      `--root=${join(dir, 'root')}`,
      '--log=/w/runtime.log',
      '--log-format=json',
      '--criu',
      '/opt/criu',
      'checkpoint',
      '--image-path',
      '/w/checkpoint',
      '--work-path',
      '/w',
      '--leave-running',
      '--tcp-established',
      '--file-locks',
      'abc',
    ]);
    expect(r.checkpointArgs('abc', { ...base, leaveRunning: false }).slice(-2)).toEqual(['/w', 'abc']);
    expect(r.globalArgs()).toEqual([`--root=${join(dir, 'root')}`]);
  });
});
