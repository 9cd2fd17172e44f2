import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { mergeCommand, mergeEnv } from './process-args.js';

type Row = [string, string[] | undefined, string[] | undefined, string[] | null | undefined, string[] | null | undefined, string[]];

describe('command/args merged with the image ENTRYPOINT/CMD (kubelet + containerd rules)', () => {
  const rows: Row[] = [
    ['image only: ENTRYPOINT + CMD', undefined, undefined, ['/ep'], ['cmd1', 'cmd2'], ['/ep', 'cmd1', 'cmd2']],
    ['image CMD only', [], [], null, ['/bin/sh', '-c', 'x'], ['/bin/sh', '-c', 'x']],
    ['image ENTRYPOINT only', [], [], ['/ep', 'a'], null, ['/ep', 'a']],
    ['args replace CMD, ENTRYPOINT kept', [], ['x', 'y'], ['/ep'], ['cmd'], ['/ep', 'x', 'y']],
    ['command replaces ENTRYPOINT and drops CMD', ['/c'], [], ['/ep'], ['cmd'], ['/c']],
    ['command + args ignore the image', ['/c', '1'], ['2'], ['/ep'], ['cmd'], ['/c', '1', '2']],
    ['args without any ENTRYPOINT run as the command', [], ['/bin/true'], null, ['cmd'], ['/bin/true']],
    ['ENTRYPOINT [""] is no entrypoint', [], [], [''], ['/bin/sh'], ['/bin/sh']],
    ['ENTRYPOINT [""] with args', [], ['/x'], [''], ['/bin/sh'], ['/x']],
    ['command set and image empty', ['/c'], undefined, undefined, undefined, ['/c']],
  ];
  it.each(rows)('%s', (_name, command, args, entrypoint, cmd, want) => {
    expect(mergeCommand(command, args, entrypoint, cmd)).toEqual(want);
  });

  it('nothing anywhere is InvalidArgument', () => {
    expect(() => mergeCommand([], [], null, null)).toThrow(InvalidArgumentError);
    expect(() => mergeCommand(undefined, undefined, [''], [])).toThrow(/no command specified/);
  });

  it('does not alias the inputs', () => {
    const ep = ['/ep'];
    const out = mergeCommand([], [], ep, ['a']);
    out.push('z');
    expect(ep).toEqual(['/ep']);
  });
});

describe('environment', () => {
  it('starts with a default PATH and HOSTNAME, then the image env, then the CRI env overriding by name', () => {
    expect(
      mergeEnv(['PATH=/img/bin', 'A=1', 'B=2'], [
        { key: 'B', value: 'cri' },
        { key: 'C', value: 'x=y' },
      ], 'pod-a'),
    ).toEqual(['PATH=/img/bin', 'HOSTNAME=pod-a', 'A=1', 'B=cri', 'C=x=y']);
  });

  it('keeps the default PATH when the image has none, and empty values', () => {
    expect(mergeEnv(null, [{ key: 'E', value: '' }])).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'E=']);
  });

  it('CRI can override PATH and HOSTNAME', () => {
    const env = mergeEnv([], [{ key: 'PATH', value: '/p' }, { key: 'HOSTNAME', value: 'h2' }], 'h1');
    expect(env).toEqual(['PATH=/p', 'HOSTNAME=h2']);
  });

  it('an empty variable name is InvalidArgument', () => {
    expect(() => mergeEnv([], [{ key: '', value: 'v' }])).toThrow(InvalidArgumentError);
  });
});
