// Kernel security modules the pod specs use: seccomp (RuntimeDefault profiles, required), and
// AppArmor / SELinux (reported as found; the kubelet refuses pods asking for one the node lacks).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable } from '../../lib/fsutil.js';
import { fail, ok, warn, type Check, type CheckResult } from './check.js';

export const seccompCheck: Check = async (ctx) => {
  const status = read(join(ctx.host.root, 'proc/self/status'));
  const actions = read(join(ctx.host.root, 'proc/sys/kernel/seccomp/actions_avail')).trim();
  if (!/^Seccomp:/m.test(status) || actions === '') {
    return [fail('seccomp', 'the kernel has no seccomp filter support: RuntimeDefault and Localhost profiles cannot be applied', 'use a kernel built with CONFIG_SECCOMP_FILTER')];
  }
  const runtime = await findExecutable(ctx.config.runtimes[ctx.config.defaultRuntime]?.path ?? 'runc', ctx.host.path);
  if (runtime) {
    const v = await ctx.host.run(runtime, ['--version']);
    const lib = /libseccomp:\s*(\S+)/.exec(v.stdout)?.[1];
    if (v.exitCode === 0 && /runc/.test(v.stdout) && !lib) {
      return [fail('seccomp', `the kernel supports seccomp but ${runtime} was built without libseccomp`, 'install a runc built with seccomp support (Debian\'s is)')];
    }
    return [ok('seccomp', `kernel filters (actions: ${actions})${lib ? `, ${runtime} with libseccomp ${lib}` : ''}`)];
  }
  return [ok('seccomp', `kernel filters (actions: ${actions})`)];
};

export const lsmCheck: Check = async (ctx) => {
  const out: CheckResult[] = [];
  const apparmor = read(join(ctx.host.root, 'sys/module/apparmor/parameters/enabled')).trim();
  if (apparmor === 'Y') {
    const parser = await findExecutable('apparmor_parser', [...ctx.host.path, '/sbin', '/usr/sbin']);
    out.push(
      parser
        ? ok('apparmor', `enabled (${parser} present for loading profiles)`)
        : warn('apparmor', 'enabled but apparmor_parser is missing: profiles cannot be loaded on this node', 'apt-get install apparmor'),
    );
  } else {
    out.push(ok('apparmor', 'not enabled on this kernel: the kubelet refuses pods that ask for an AppArmor profile here'));
  }
  const enforce = read(join(ctx.host.root, 'sys/fs/selinux/enforce')).trim();
  if (enforce === '') out.push(ok('selinux', 'not enabled: SELinux labels in pod specs are not applied'));
  else out.push(ok('selinux', enforce === '1' ? 'enforcing' : 'permissive'));
  return out;
};

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
