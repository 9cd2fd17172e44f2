// The part of a checkpoint the container must not depend on the daemon for: pause it, dump it with
// CRIU (`runtime checkpoint --leave-running`, which leaves a paused container paused), tell the
// daemon, wait while the daemon takes the writable layer and the log, resume it. A small shell in
// a session of its own runs these steps, so a daemon killed at any point (kill -9, OOM) still gets
// its container resumed, and only once CRIU is done with it (CRIU puts back the freezer state it
// found when it ends: a resume during the dump would be undone). The runtime's and CRIU's output go
// to a file, never to a pipe a dead daemon no longer reads. It is spawned directly rather than
// through lib/exec.ts: the daemon talks to it while it runs and must be able to die before it ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { InternalError } from '../../lib/errors.js';

export interface HelperCommands {
  pause: string[];
  checkpoint: string[];
  resume: string[];
}

export type DumpOutcome = { paused: false } | { paused: true; exitCode: number };

export interface CheckpointHelper {
  /** Once the dump ended (the container still paused), or the pause failed (nothing was done). */
  dumped: Promise<DumpOutcome>;
  /** The daemon took what it needed: the helper resumes the container; resolves when it exited. */
  finish(): Promise<void>;
  /** Kill the helper and the runtime and CRIU under it (a timeout); the caller resumes the container. */
  kill(): void;
}

// $1 pause, $2 checkpoint, $3 resume (shell-quoted command lines), $4 the output file.
const SCRIPT = [
  "trap '' PIPE",
  'if ! eval "$1" >>"$4" 2>&1; then echo pause-failed; exit 1; fi',
  'eval "$2" >>"$4" 2>&1',
  'echo "dumped $?"',
  'read -r _',
  'eval "$3" >>"$4" 2>&1',
].join('\n');

export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

export function startCheckpointHelper(cmds: HelperCommands, outputFile: string): CheckpointHelper {
  const child: ChildProcess = spawn('/bin/sh', ['-c', SCRIPT, 'nexcage-checkpoint', shellQuote(cmds.pause), shellQuote(cmds.checkpoint), shellQuote(cmds.resume), outputFile], {
    stdio: ['pipe', 'pipe', 'ignore'],
    detached: true,
  });
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.on('error', () => resolve());
  });
  const dumped = new Promise<DumpOutcome>((resolve, reject) => {
    // readline is loaded by the first checkpoint, not at daemon start.
    const lines = process.getBuiltinModule('node:readline').createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line === 'pause-failed') resolve({ paused: false });
      const m = /^dumped (\d+)$/.exec(line);
      if (m) resolve({ paused: true, exitCode: Number(m[1]) });
    });
    child.on('error', (err) => reject(new InternalError(`the checkpoint helper could not be started: ${err.message}`)));
    void exited.then(() => reject(new InternalError('the checkpoint helper ended before the dump did')));
  });
  dumped.catch(() => undefined);
  let finished = false;
  return {
    dumped,
    finish: async () => {
      if (!finished) {
        finished = true;
        child.stdin?.end('\n');
      }
      await exited;
    },
    kill: () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL'); // its session's group: the shell, the runtime, CRIU
      } catch {
        // already gone
      }
    },
  };
}
