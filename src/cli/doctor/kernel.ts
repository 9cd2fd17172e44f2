// Kernel features the node's pods rely on: overlayfs (every container rootfs) and idmapped mounts
// (pods with hostUsers: false: the kernel must idmap mounts, 5.19+, which nexcage does itself, and
// the OCI runtime must create user namespaces).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findExecutable } from '../../lib/fsutil.js';
import { parseFeatures } from '../../runtime/engine/runtime-handlers.js';
import { fail, ok, versionBelow, versionIn, warn, type Check } from './check.js';

export const overlayCheck: Check = async (ctx) => {
  const filesystems = safeRead(join(ctx.host.root, 'proc/filesystems'));
  if (/\toverlay$/m.test(filesystems)) return [ok('overlayfs', 'overlay filesystem available')];
  const module = join(ctx.host.root, 'lib/modules', ctx.host.kernelRelease, 'kernel/fs/overlayfs');
  if (existsSync(module)) return [warn('overlayfs', 'overlay is a module that is not loaded yet', 'modprobe overlay (and add "overlay" to /etc/modules-load.d/)')];
  return [fail('overlayfs', 'the kernel has no overlay filesystem: no container rootfs can be mounted', 'use a kernel built with CONFIG_OVERLAY_FS')];
};

export const idmapCheck: Check = async (ctx) => {
  const kernel = versionIn(ctx.host.kernelRelease) ?? '0';
  if (versionBelow(kernel, '5.19')) {
    return [warn('idmapped-mounts', `kernel ${ctx.host.kernelRelease} cannot idmap overlayfs (5.19+): pods with hostUsers: false cannot run`, 'use a 5.19 or newer kernel if you need user-namespaced pods')];
  }
  const name = ctx.config.defaultRuntime;
  const binary = await findExecutable(ctx.config.runtimes[name]?.path ?? name, ctx.host.path);
  if (!binary) return [warn('idmapped-mounts', `kernel ${ctx.host.kernelRelease} supports them, the default runtime cannot be asked (not found)`, 'install the default OCI runtime')];
  const out = await ctx.host.run(binary, ['features']);
  const features = out.exitCode === 0 ? parseFeatures(out.stdout, ctx.host.kernelRelease) : undefined;
  if (!features?.userNamespaces) {
    return [warn('idmapped-mounts', `kernel ${ctx.host.kernelRelease} supports them but ${binary} does not create user namespaces (none in its features): pods with hostUsers: false are refused`, 'use an OCI runtime whose features list the user namespace (runc 1.1 or newer)')];
  }
  return [ok('idmapped-mounts', `kernel ${ctx.host.kernelRelease} and ${binary} support user namespaces: pods with hostUsers: false run on idmapped mounts nexcage prepares`)];
};

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
