import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.js';
import { loadLocalhostSeccomp, localhostProfilePath, parseSeccompProfile, resolveLocalhostSeccomp, type SeccompRuleContext } from './seccomp-localhost.js';

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
    expect(() => parseSeccompProfile('{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/run/agent.sock"}', '/p.json')).toThrow(/SCMP_ACT_NOTIFY cannot be the default action/);
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

describe('Localhost seccomp profiles: paths and reading', () => {
  it('the reference must be an absolute path, with or without the "localhost/" prefix', () => {
    expect(localhostProfilePath('localhost//var/lib/kubelet/seccomp/audit.json')).toBe('/var/lib/kubelet/seccomp/audit.json');
    expect(localhostProfilePath('/var/lib/kubelet/seccomp/audit.json')).toBe('/var/lib/kubelet/seccomp/audit.json');
    expect(() => localhostProfilePath('profiles/audit.json')).toThrow('seccomp profile "profiles/audit.json": localhost profile path must be absolute');
    expect(() => localhostProfilePath('')).toThrow(InvalidArgumentError);
  });

  it('a path that cannot be read as a file is InvalidArgument naming it and the cause', async () => {
    await expect(loadLocalhostSeccomp(dir)).rejects.toThrow(InvalidArgumentError);
    await expect(loadLocalhostSeccomp(`localhost/${dir}`)).rejects.toThrow(new RegExp(`^seccomp profile "${dir}": cannot read: .*EISDIR`));
  });

  it('a broken file on disk is InvalidArgument naming the file', async () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [');
    await expect(loadLocalhostSeccomp(path)).rejects.toThrow(`seccomp profile "${path}": invalid JSON`);
  });
});

describe('Localhost seccomp profiles: fields kept', () => {
  it('a docker-format profile: defaultErrnoRet, archMap with and without sub-architectures, per-rule errnoRet and two-value args', () => {
    const p = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        archMap: [
          { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] },
          { architecture: 'SCMP_ARCH_AARCH64' },
        ],
        syscalls: [
          { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 4294967295, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
          { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
          { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        ],
      }),
      '/var/lib/kubelet/seccomp/docker.json',
    );
    expect(p).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64'],
      syscalls: [
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 4294967295, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
        { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ],
    });
  });

  it('an OCI-format profile: flags and a user-space notifier (listenerPath, listenerMetadata)', () => {
    const p = parseSeccompProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64'],
        flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
        listenerPath: '/run/seccomp-agent.sock',
        listenerMetadata: 'pod=web',
        syscalls: [{ names: ['mount', 'mknod'], action: 'SCMP_ACT_NOTIFY' }],
      }),
      '/p.json',
    );
    expect(p).toEqual({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
      listenerPath: '/run/seccomp-agent.sock',
      listenerMetadata: 'pod=web',
      syscalls: [{ names: ['mount', 'mknod'], action: 'SCMP_ACT_NOTIFY' }],
    });
  });

  it('SCMP_ACT_NOTIFY profiles runc would refuse are InvalidArgument at load, naming the rule', () => {
    const notify = (syscalls: unknown[], listenerPath?: string): string => JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls, ...(listenerPath ? { listenerPath } : {}) });
    expect(() => parseSeccompProfile(notify([{ names: ['read'], action: 'SCMP_ACT_LOG' }, { names: ['mount'], action: 'SCMP_ACT_NOTIFY' }]), '/p.json')).toThrow(
      'seccomp profile "/p.json": syscalls[1]: SCMP_ACT_NOTIFY needs listenerPath',
    );
    expect(() => parseSeccompProfile(notify([{ names: ['close', 'write'], action: 'SCMP_ACT_NOTIFY' }], '/run/agent.sock'), '/p.json')).toThrow(
      'seccomp profile "/p.json": syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write syscall',
    );
  });

  it('a profile with only a default action has no architectures or syscalls', () => {
    expect(parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","architectures":[]}', '/p.json')).toEqual({ defaultAction: 'SCMP_ACT_ALLOW' });
  });
});

describe('Localhost seccomp profiles: malformed fields name the file and the field', () => {
  const rule = (r: unknown): string => JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [r] });
  // [what, profile text, the message after `seccomp profile "/p.json": `]
  const cases: [string, string, string][] = [
    ['negative defaultErrnoRet', '{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1}', 'defaultErrnoRet must be a non-negative integer'],
    ['architectures a string', '{"defaultAction":"SCMP_ACT_ERRNO","architectures":"SCMP_ARCH_X86_64"}', 'architectures must be a list of strings'],
    ['archMap an object', '{"defaultAction":"SCMP_ACT_ERRNO","archMap":{"architecture":"SCMP_ARCH_X86_64"}}', 'archMap must be an array'],
    ['archMap entry without architecture', '{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"subArchitectures":[]}]}', 'archMap[0].architecture must be a string'],
    ['subArchitectures with a number', '{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"a","subArchitectures":[3]}]}', 'archMap[0].subArchitectures must be a list of strings'],
    ['flags a string', '{"defaultAction":"SCMP_ACT_ERRNO","flags":"SECCOMP_FILTER_FLAG_LOG"}', 'flags must be a list of strings'],
    ['listenerPath a number', '{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":1}', 'listenerPath must be a string'],
    ['listenerMetadata an object', '{"defaultAction":"SCMP_ACT_ERRNO","listenerMetadata":{}}', 'listenerMetadata must be a string'],
    ['no defaultAction', '{"syscalls":[]}', 'defaultAction "undefined" is not a seccomp action'],
    ['syscalls an object', '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":{}}', 'syscalls must be an array'],
    ['a rule that is a string', rule('read'), 'syscalls[0] must be an object'],
    ['a rule with no names', rule({ names: [], action: 'SCMP_ACT_ALLOW' }), 'syscalls[0].names is empty'],
    ['a rule with an unknown action', rule({ names: ['read'], action: 'SCMP_ACT_KILL_ME' }), 'syscalls[0].action "SCMP_ACT_KILL_ME" is not a seccomp action'],
    ['a rule with errnoRet as text', rule({ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 'EPERM' }), 'syscalls[0].errnoRet must be a non-negative integer'],
    ['args an object', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: {} }), 'syscalls[0].args must be an array'],
    ['an arg that is a number', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [0] }), 'syscalls[0].args[0] must be an object'],
    ['an arg without value', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, op: 'SCMP_CMP_EQ' }] }), 'syscalls[0].args[0].value must be a non-negative integer'],
    ['a fractional valueTwo', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, valueTwo: 0.5, op: 'SCMP_CMP_MASKED_EQ' }] }), 'syscalls[0].args[0].valueTwo must be a non-negative integer'],
    ['includes a list', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', includes: ['CAP_SYS_ADMIN'] }), 'syscalls[0].includes must be an object'],
    ['includes.caps a string', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', includes: { caps: 'CAP_SYS_ADMIN' } }), 'syscalls[0].includes.caps must be a list of strings'],
    ['excludes.caps with a number', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', excludes: { caps: [21] } }), 'syscalls[0].excludes.caps must be a list of strings'],
    ['includes.arches a string', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', includes: { arches: 'amd64' } }), 'syscalls[0].includes.arches must be a list of strings'],
    ['excludes.arches an object', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', excludes: { arches: {} } }), 'syscalls[0].excludes.arches must be a list of strings'],
    ['includes.minKernel a number', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: 5.8 } }), 'syscalls[0].includes.minKernel 5.8 must be a "major.minor" kernel version'],
    ['includes.minKernel with a patch level', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.8.1' } }), 'syscalls[0].includes.minKernel "5.8.1" must be a "major.minor" kernel version'],
    ['excludes.minKernel only a major', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '6' } }), 'syscalls[0].excludes.minKernel "6" must be a "major.minor" kernel version'],
  ];
  it.each(cases)('%s', (_what, text, why) => {
    let err: unknown;
    try {
      parseSeccompProfile(text, '/p.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe(`seccomp profile "/p.json": ${why}`);
  });
});

describe('Localhost seccomp profiles: docker-format includes/excludes, resolved per container', () => {
  // rules shaped as in moby's profiles/seccomp/default.json
  const docker = parseSeccompProfile(
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [], comment: '', includes: {}, excludes: {} },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32', 'x86'] } },
        { names: ['sync_file_range2'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
        { names: ['unshare', 'mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'] } },
        {
          names: ['clone'],
          action: 'SCMP_ACT_ALLOW',
          args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
          excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
        },
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['landlock_create_ruleset'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.13' } },
        { names: ['old_call'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '6.0' } },
      ],
    }),
    '/var/lib/kubelet/seccomp/docker.json',
  );
  const ctx = (over: Partial<SeccompRuleContext> = {}): SeccompRuleContext => ({
    capabilities: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'],
    arch: 'x64',
    kernelRelease: '6.8.0-45-generic',
    ...over,
  });
  const names = (c: SeccompRuleContext): string[] => resolveLocalhostSeccomp(docker, c).syscalls!.flatMap((r) => r.names);

  it('keeps the conditions from parsing; docker\'s empty {} are no condition', () => {
    expect(docker.syscalls![0]).toEqual({ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [] });
    expect(docker.syscalls![3]).toEqual({ names: ['unshare', 'mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } });
    expect(docker.syscalls![5]!.excludes).toEqual({ caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] });
    const empty = parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', includes: { caps: [], arches: [], minKernel: '' }, excludes: null }] }), '/p.json');
    expect(empty.syscalls).toEqual([{ names: ['x'], action: 'SCMP_ACT_ALLOW' }]);
  });

  it('includes.caps: a rule needs every listed capability in the bounding set', () => {
    expect(names(ctx())).not.toContain('unshare');
    expect(names(ctx({ capabilities: ['CAP_SYS_ADMIN'] }))).toEqual(expect.arrayContaining(['unshare', 'mount']));
    expect(names(ctx({ capabilities: ['CAP_SYS_ADMIN'] }))).not.toContain('bpf');
    expect(names(ctx({ capabilities: ['CAP_SYS_ADMIN', 'CAP_BPF'] }))).toContain('bpf');
  });

  it('excludes.caps: a rule goes when any listed capability is in the bounding set', () => {
    const without = resolveLocalhostSeccomp(docker, ctx()).syscalls!;
    expect(without.find((r) => r.names.includes('clone'))).toEqual({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    expect(without.find((r) => r.names.includes('clone3'))).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    expect(names(ctx({ capabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] }))).not.toContain('clone');
    expect(names(ctx({ capabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] }))).not.toContain('clone3');
  });

  it('includes/excludes arches use moby\'s names for the node (amd64, arm64, x86, s390x)', () => {
    expect(names(ctx({ arch: 'x64' }))).toContain('arch_prctl');
    expect(names(ctx({ arch: 'x64' }))).not.toContain('sync_file_range2');
    expect(names(ctx({ arch: 'arm64' }))).toContain('sync_file_range2');
    expect(names(ctx({ arch: 'arm64' }))).not.toContain('arch_prctl');
    expect(names(ctx({ arch: 'ia32' }))).toContain('arch_prctl');
    expect(names(ctx({ arch: 'arm64' }))).toContain('clone');
    expect(names(ctx({ arch: 's390x' }))).not.toContain('clone');
  });

  it('minKernel: includes needs the node kernel at least that version, excludes drops the rule from it on', () => {
    expect(names(ctx({ kernelRelease: '5.13.0' }))).toContain('landlock_create_ruleset');
    expect(names(ctx({ kernelRelease: '5.12.19-rt' }))).not.toContain('landlock_create_ruleset');
    expect(names(ctx({ kernelRelease: '4.19.0' }))).not.toContain('landlock_create_ruleset');
    expect(names(ctx({ kernelRelease: '5.15.0' }))).toContain('old_call');
    expect(names(ctx({ kernelRelease: '6.0.1' }))).not.toContain('old_call');
    expect(() => resolveLocalhostSeccomp(docker, ctx({ kernelRelease: 'custom' }))).toThrow(FailedPreconditionError);
    expect(() => resolveLocalhostSeccomp(docker, ctx({ kernelRelease: 'custom' }))).toThrow('seccomp rule syscalls[7] needs the kernel version');
  });

  it('the resolved profile is plain OCI: no includes/excludes, and the loaded profile is left as it was', () => {
    const before = JSON.stringify(docker);
    const out = resolveLocalhostSeccomp(docker, ctx({ capabilities: ['CAP_SYS_ADMIN'] }));
    expect(JSON.stringify(out)).not.toMatch(/includes|excludes/);
    expect(out).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
    expect(JSON.stringify(docker)).toBe(before);
    expect(resolveLocalhostSeccomp({ defaultAction: 'SCMP_ACT_LOG' }, ctx())).toEqual({ defaultAction: 'SCMP_ACT_LOG' });
  });
});
