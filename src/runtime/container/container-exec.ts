// ExecSync in a running container: the container's own OCI process (env, user, cwd, caps) with
// the command as args, run by the OCI runtime's `exec` to completion. At the timeout the command
// (its pid from --pid-file) is killed and the call fails with DEADLINE_EXCEEDED.
import { randomBytes } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DeadlineExceededError, FailedPreconditionError } from '../../lib/errors.js';
import { readJsonIfExists, writeVolatileJson } from '../../lib/fsutil.js';
import type { Container } from './container-record.js';
import type { OciRuntime } from '../engine/oci-runtime.js';
import type { Process, Spec } from '../oci-spec/types.js';

export interface ExecSyncResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Without a timeout, a command still gets cut after an hour rather than hold an RPC forever. */
const NO_TIMEOUT_CAP_MS = 3_600_000;

export async function execInContainer(runtime: OciRuntime, c: Container, cmd: readonly string[], timeoutSec: number): Promise<ExecSyncResult> {
  const spec = await readJsonIfExists<Spec>(join(c.bundle, 'config.json'));
  if (!spec?.process) throw new FailedPreconditionError(`container "${c.id}": its OCI spec is missing`);
  const tag = randomBytes(6).toString('hex');
  const processPath = join(c.bundle, `exec-${tag}.json`);
  const pidFile = join(c.bundle, `exec-${tag}.pid`);
  const proc: Process = { ...spec.process, args: [...cmd], terminal: false };
  delete proc.consoleSize;
  await writeVolatileJson(processPath, proc, 0o600);
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    // runc-runtime captures at most 16 MiB per stream (exec.ts default), the kubelet's cap.
    const running = runtime.exec(c.id, { processPath, pidFile, timeoutMs: (timeoutSec > 0 ? timeoutSec * 1000 : 0) + NO_TIMEOUT_CAP_MS });
    if (timeoutSec > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        void killFromPidFile(pidFile, running);
      }, timeoutSec * 1000);
    }
    const res = await running;
    if (timedOut) {
      throw new DeadlineExceededError(`ExecSync in container "${c.id}": command ${JSON.stringify(cmd)} timed out after ${timeoutSec} s and was killed`);
    }
    return { stdout: res.stdout, stderr: res.stderr, exitCode: res.exitCode ?? 137 };
  } finally {
    clearTimeout(timer);
    await Promise.all([unlink(processPath).catch(() => undefined), unlink(pidFile).catch(() => undefined)]);
  }
}

/** Kill the exec'd process (pid from runc's --pid-file, written once it started) until the exec ends. */
async function killFromPidFile(pidFile: string, running: Promise<unknown>): Promise<void> {
  let done = false;
  running.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

