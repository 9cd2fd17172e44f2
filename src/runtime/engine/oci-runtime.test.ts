import { describe, expect, it } from 'vitest';
import { CommandError, ExecutableNotFoundError } from '../../lib/errors.js';
import { missingExecutable, runtimeLogErrors } from './oci-runtime.js';

describe('runtime JSON log', () => {
  it('picks the error messages out of runc --log-format json output', () => {
    const log = [
      '{"level":"info","msg":"starting","time":"2026-01-01T00:00:00Z"}',
      '{"level":"error","msg":"container_linux.go:380: starting container process caused: exec: \\"/nope\\": no such file","time":"x"}',
      'garbage line with error in it',
      '',
    ].join('\n');
    expect(runtimeLogErrors(log)).toEqual(['container_linux.go:380: starting container process caused: exec: "/nope": no such file', 'garbage line with error in it']);
  });
});

describe('missing executable', () => {
  const failed = (stderr: string) => new CommandError('/usr/sbin/runc', ['start', 'abc'], 1, null, stderr);

  it("recognises runc's and crun's words for a command missing from the rootfs, at create or start", () => {
    const cases: [string[], string][] = [
      [['nosuchcmd'], 'runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH'],
      [['/no/such/binary', '-x'], 'conmon noise\nruntime failed: exec: "/no/such/binary": stat /no/such/binary: no such file or directory'],
      [['nosuchcmd'], 'executable file `nosuchcmd` not found in $PATH: No such file or directory'],
    ];
    for (const [args, stderr] of cases) {
      const err = missingExecutable(failed(stderr), 'container "web"', args);
      expect(err).toBeInstanceOf(ExecutableNotFoundError);
      expect(err?.code).toBe('FAILED_PRECONDITION');
      expect(err?.message).toBe(`container "web": command "${args[0]}" not found in the container: ${stderr.split('\n').at(-1)}`);
    }
  });

  it('leaves other failures alone: another file missing, another error kind, no args', () => {
    const mount = failed('error mounting "/data" to rootfs at "/mnt": stat /data: no such file or directory');
    expect(missingExecutable(mount, 'c', ['/bin/sh'])).toBeUndefined();
    const hook = failed('error running hook #0: fork/exec /usr/bin/nvidia-ctk: no such file or directory');
    expect(missingExecutable(hook, 'c', ['/bin/sh'])).toBeUndefined();
    expect(missingExecutable(failed('exec: "/bin/sh": permission denied'), 'c', ['/bin/sh'])).toBeUndefined();
    expect(missingExecutable(failed('exec: "x": executable file not found in $PATH'), 'c', [])).toBeUndefined();
    expect(missingExecutable(new Error('exec: "x": executable file not found in $PATH'), 'c', ['x'])).toBeUndefined();
  });
});
