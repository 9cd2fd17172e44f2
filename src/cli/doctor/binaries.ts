// The external programs nexcage runs: every configured OCI runtime (the default one is required),
// conmon (required) and CRIU (optional: only container checkpointing uses it).
import { findExecutable } from '../../lib/fsutil.js';
import { fail, ok, versionBelow, versionIn, warn, type Check, type CheckResult, type DoctorContext } from './check.js';

const MIN_RUNC = '1.1.0';
const MIN_CONMON = '2.0.0';
const MIN_CRIU = '3.15';

async function versionOf(ctx: DoctorContext, binary: string, args: string[]): Promise<string | undefined> {
  const out = await ctx.host.run(binary, args);
  return out.exitCode === 0 ? versionIn(out.stdout + out.stderr) : undefined;
}

export const runtimesCheck: Check = async (ctx) => {
  const out: CheckResult[] = [];
  for (const [name, h] of Object.entries(ctx.config.runtimes)) {
    const isDefault = name === ctx.config.defaultRuntime;
    const id = `runtime:${name}`;
    const binary = await findExecutable(h.path, ctx.host.path);
    if (!binary) {
      const msg = `handler "${name}": "${h.path}" not found or not executable${isDefault ? ' (the default handler: no pod can start)' : ''}`;
      const fix = h.path === 'runc' || h.path.endsWith('/runc') ? 'apt-get install runc' : `install ${h.path} or fix runtimes.${name}.path in the config`;
      out.push(isDefault ? fail(id, msg, fix) : warn(id, msg, fix));
      continue;
    }
    const version = await versionOf(ctx, binary, ['--version']);
    if (!version) {
      out.push(fail(id, `handler "${name}": ${binary} --version failed`, `check that ${binary} is a working OCI runtime`));
    } else if (/runc$/.test(binary) && versionBelow(version, MIN_RUNC)) {
      out.push(warn(id, `handler "${name}": runc ${version} at ${binary} (older than ${MIN_RUNC})`, `install runc ${MIN_RUNC} or newer`));
    } else {
      out.push(ok(id, `handler "${name}"${isDefault ? ' (default)' : ''}: ${binary} version ${version}`));
    }
  }
  return out;
};

export const conmonCheck: Check = async (ctx) => {
  const binary = await findExecutable('conmon', [...ctx.host.path, '/usr/libexec/podman']);
  if (!binary) return [fail('conmon', 'conmon not found: no container can be monitored', 'apt-get install conmon')];
  const version = await versionOf(ctx, binary, ['--version']);
  if (!version) return [fail('conmon', `${binary} --version failed`, 'reinstall conmon (apt-get install --reinstall conmon)')];
  if (versionBelow(version, MIN_CONMON)) return [warn('conmon', `conmon ${version} at ${binary} (older than ${MIN_CONMON})`, `install conmon ${MIN_CONMON} or newer`)];
  return [ok('conmon', `${binary} version ${version}`)];
};

export const criuCheck: Check = async (ctx) => {
  // The daemon's criuPath setting when it has one, else criu on PATH.
  const binary = await findExecutable((ctx.config as { criuPath?: string }).criuPath || 'criu', ctx.host.path);
  if (!binary) return [warn('criu', 'not installed: CheckpointContainer (kubectl checkpoint) cannot work; nothing else needs it', `install CRIU ${MIN_CRIU} or newer`)];
  const version = await versionOf(ctx, binary, ['--version']);
  if (!version) return [warn('criu', `${binary} --version failed`, 'reinstall criu or remove it')];
  if (versionBelow(version, MIN_CRIU)) return [warn('criu', `criu ${version} at ${binary} (older than ${MIN_CRIU})`, `install criu ${MIN_CRIU} or newer`)];
  return [ok('criu', `${binary} version ${version}`)];
};
