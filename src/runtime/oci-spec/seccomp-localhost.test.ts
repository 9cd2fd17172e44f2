import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.js';
import { loadLocalhostSeccomp, localhostProfilePath, parseSeccompProfile } from './seccomp-localhost.js';

const dir = mkdtempSync(join(tmpdir(), 'nexcage-seccomp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Localhost seccomp profiles', () => {
  it('loads a profile file and keeps its rules', async () => {
    const path = join(dir, 'audit.json');
    writeFileSync(
      path,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_LOG',
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [
          { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, comment: 'ignored' },
          { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
        ],
      }),
    );
    expect(await loadLocalhostSeccomp(`localhost/${path}`)).toEqual({
      defaultAction: 'SCMP_ACT_LOG',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
      ],
    });
    expect((await loadLocalhostSeccomp(path)).defaultAction).toBe('SCMP_ACT_LOG');
  });

  it('a missing file is InvalidArgument naming the path', async () => {
    const path = join(dir, 'nope.json');
    await expect(loadLocalhostSeccomp(path)).rejects.toThrow(InvalidArgumentError);
    await expect(loadLocalhostSeccomp(path)).rejects.toThrow(`seccomp profile "${path}": file does not exist`);
  });

  it('a relative path is rejected', () => {
    expect(() => localhostProfilePath('localhost/profiles/x.json')).toThrow(/must be absolute/);
  });

  it('rejects bad JSON and bad fields, naming the file and field', () => {
    expect(() => parseSeccompProfile('{', '/p.json')).toThrow(/seccomp profile "\/p.json": invalid JSON/);
    expect(() => parseSeccompProfile('[]', '/p.json')).toThrow(/must be a JSON object/);
    expect(() => parseSeccompProfile('{"defaultAction":"ALLOW"}', '/p.json')).toThrow(/defaultAction "ALLOW" is not a seccomp action/);
    expect(() => parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}', '/p.json')).toThrow(
      /syscalls\[0\] needs "names"/,
    );
    expect(() =>
      parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}', '/p.json'),
    ).toThrow(/args\[0\].index must be 0..5/);
    expect(() =>
      parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"EQ"}]}]}', '/p.json'),
    ).toThrow(/op "EQ" is not a seccomp operator/);
    expect(() => parseSeccompProfile('{"defaultAction":"SCMP_ACT_NOTIFY"}', '/p.json')).toThrow(/needs listenerPath/);
  });

  it('accepts docker-style archMap and single-name rules', () => {
    const p = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
        syscalls: [{ name: 'read', action: 'SCMP_ACT_ALLOW', args: null }],
      }),
      '/d.json',
    );
    expect(p).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
    });
  });
});
