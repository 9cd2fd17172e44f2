import { describe, expect, it } from 'vitest';
import { defaultCapabilities } from './defaults.js';
import { runtimeDefaultSeccomp } from './seccomp-default.js';
import type { Seccomp } from './types.js';

const allowedUnconditionally = (p: Seccomp): Set<string> =>
  new Set(p.syscalls!.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));

describe('RuntimeDefault seccomp profile', () => {
  const p = runtimeDefaultSeccomp({ capabilities: defaultCapabilities(), arch: 'x64' });

  it('denies by default with EPERM and covers the x86 compat architectures', () => {
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(runtimeDefaultSeccomp({ capabilities: [], arch: 'arm64' }).architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('allows ordinary calls and the x86-only arch_prctl', () => {
    const ok = allowedUnconditionally(p);
    for (const n of ['read', 'write', 'openat', 'execve', 'futex', 'epoll_wait', 'mmap', 'exit_group', 'arch_prctl', 'chown', 'setuid', 'ptrace']) {
      expect(ok.has(n), n).toBe(true);
    }
    expect(allowedUnconditionally(runtimeDefaultSeccomp({ capabilities: [], arch: 'arm64' })).has('arch_prctl')).toBe(false);
  });

  it('denies privileged calls without their capability', () => {
    const ok = allowedUnconditionally(p);
    for (const n of ['mount', 'umount2', 'unshare', 'setns', 'reboot', 'init_module', 'kexec_load', 'bpf', 'clock_settime', 'keyctl', 'add_key', 'open_by_handle_at', 'acct', 'swapon', 'userfaultfd']) {
      expect(ok.has(n), n).toBe(false);
    }
  });

  it('CAP_SYS_CHROOT (a default capability) unlocks chroot only when present', () => {
    expect(allowedUnconditionally(runtimeDefaultSeccomp({ capabilities: [], arch: 'x64' })).has('chroot')).toBe(false);
    expect(allowedUnconditionally(runtimeDefaultSeccomp({ capabilities: ['CAP_SYS_CHROOT'], arch: 'x64' })).has('chroot')).toBe(true);
  });

  it('allows clone only without namespace flags and makes clone3 fall back with ENOSYS', () => {
    const clone = p.syscalls!.find((r) => r.names.includes('clone'));
    expect(clone).toEqual({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    expect(p.syscalls!.find((r) => r.names.includes('clone3'))).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('CAP_SYS_ADMIN allows clone, clone3, mount, unshare and setns outright', () => {
    const admin = runtimeDefaultSeccomp({ capabilities: [...defaultCapabilities(), 'CAP_SYS_ADMIN'], arch: 'x64' });
    const ok = allowedUnconditionally(admin);
    for (const n of ['clone', 'clone3', 'mount', 'unshare', 'setns', 'sethostname']) expect(ok.has(n), n).toBe(true);
    expect(admin.syscalls!.some((r) => r.names.includes('clone') && r.args)).toBe(false);
  });

  it('other capabilities unlock their calls', () => {
    const ok = allowedUnconditionally(
      runtimeDefaultSeccomp({ capabilities: ['CAP_SYS_TIME', 'CAP_SYS_PTRACE', 'CAP_SYS_MODULE', 'CAP_SYS_BOOT', 'CAP_SYS_NICE'], arch: 'x64' }),
    );
    for (const n of ['settimeofday', 'clock_settime', 'process_vm_readv', 'init_module', 'reboot', 'mbind']) expect(ok.has(n), n).toBe(true);
  });

  it('allows sockets except AF_VSOCK and only Linux personalities', () => {
    expect(p.syscalls!.find((r) => r.names.includes('socket'))).toEqual({
      names: ['socket'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }],
    });
    const pers = p.syscalls!.filter((r) => r.names.includes('personality'));
    expect(pers.map((r) => r.args![0]!.value)).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
    expect(allowedUnconditionally(p).has('personality')).toBe(false);
    expect(allowedUnconditionally(p).has('socket')).toBe(false);
  });

  it('names each syscall at most once in the allow list', () => {
    const names = p.syscalls![0]!.names;
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThan(300);
  });
});
