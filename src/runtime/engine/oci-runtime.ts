// The OCI runtime seam: any binary with the runc CLI contract (runc, crun, ...). One instance per
// configured RuntimeClass handler, bound to that handler's binary, --root and cgroup mode.
//
// API (shared by infra and application containers):
//   create(id, {bundle, pidFile, consoleSocket?})  `create --bundle B --pid-file F [--console-socket S] ID`
//   start(id)                                       `start ID`
//   state(id) -> OciState | undefined               `state ID` (undefined when the runtime does not know the id)
//   list() -> OciState[]                            `list --format json` (recovery: containers nobody owns)
//   kill(id, signal, {all?})                        `kill [--all] ID SIG`
//   delete(id, {force?})                            `delete [--force] ID`; an unknown id is not an error
//   exec(id, {processPath, detach?, pidFile?, tty?, consoleSocket?})  `exec --process P ...`
//   update(id, resources)                           `update --resources -` (OCI LinuxResources JSON on stdin)
//   pause(id) / resume(id) / ps(id) -> pids / features() -> parsed JSON
//   globalArgs(logPath?)                            the global flags, for a monitor (conmon) that runs the binary itself
//   checkpointArgs?(id, {criu, imagePath, ...})     the argv of `[global flags] --criu C checkpoint --image-path I ...`
//                                                   for runtimes that can (a helper that outlives the daemon runs it;
//                                                   restores go through the monitor: conmon --restore)
// Every failure throws CommandError whose message carries the runtime's own JSON log (`--log
// --log-format json`) lines of level error, so "runc create failed" says why.
import { CommandError, ExecutableNotFoundError } from '../../lib/errors.js';

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface OciState {
  id: string;
  /** Host pid of the container's init; 0 when stopped. */
  pid: number;
  status: OciStatus;
  bundle: string;
  annotations?: Record<string, string>;
}

export interface CreateOptions {
  bundle: string;
  pidFile: string;
  consoleSocket?: string;
}

export interface ExecOptions {
  /** Path of an OCI process JSON file. */
  processPath: string;
  detach?: boolean;
  pidFile?: string;
  tty?: boolean;
  consoleSocket?: string;
  timeoutMs?: number;
}

export interface CheckpointOptions {
  /** The CRIU binary the runtime runs. */
  criu: string;
  /** Where CRIU writes its images. */
  imagePath: string;
  /** CRIU's work dir: dump.log and stats-dump land here. */
  workPath: string;
  /** The container goes on running after the dump (forensic checkpoints). */
  leaveRunning: boolean;
  /** Dump established TCP connections (restored with the same flag) instead of refusing. */
  tcpEstablished?: boolean;
  /** Dump file locks (restored with the same flag). */
  fileLocks?: boolean;
  /** The runtime's own JSON log for this call. */
  logPath: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

export interface OciRuntime {
  /** The RuntimeClass handler name this runtime serves. */
  readonly handler: string;
  /** The resolved binary path. */
  readonly binary: string;
  /** The runtime's --root state directory. */
  readonly root: string;
  readonly systemdCgroup: boolean;

  create(id: string, options: CreateOptions): Promise<void>;
  start(id: string): Promise<void>;
  state(id: string): Promise<OciState | undefined>;
  list(): Promise<OciState[]>;
  kill(id: string, signal: string, options?: { all?: boolean }): Promise<void>;
  delete(id: string, options?: { force?: boolean }): Promise<void>;
  exec(id: string, options: ExecOptions): Promise<ExecResult>;
  update(id: string, resources: object): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  ps(id: string): Promise<number[]>;
  features(): Promise<unknown>;
  /** Global flags for a monitor that runs the binary itself (conmon --runtime-arg). */
  globalArgs(logPath?: string): string[];
  /** Arguments (global flags included) of a CRIU checkpoint of a running container; absent for runtimes that cannot. */
  checkpointArgs?(id: string, options: CheckpointOptions): string[];
}

/** Pick the messages of error (and fatal) level out of a runtime's JSON log. */
export function runtimeLogErrors(logText: string): string[] {
  const out: string[] = [];
  for (const line of logText.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) out.push(entry.msg);
    } catch {
      if (/error/i.test(line)) out.push(line.trim());
    }
  }
  return out;
}

/**
 * A create or start that failed because the process's executable is missing from the rootfs, as
 * the catalogue error naming `container`, the command and the runtime's reason; undefined for any
 * other failure. Only a line naming args[0] counts: "no such file or directory" alone also comes
 * from mounts, cgroups and hooks. runc: `exec: "x": executable file not found in $PATH` and
 * `exec: "/x": stat /x: no such file or directory`; crun: "executable file `x` not found in $PATH".
 */
export function missingExecutable(err: unknown, container: string, args: readonly string[]): ExecutableNotFoundError | undefined {
  const executable = args[0] ?? '';
  if (!(err instanceof CommandError) || executable === '') return undefined;
  const named = [`exec: "${executable}"`, `\`${executable}\``];
  const reason = err.stderr
    .split('\n')
    .find((line) => named.some((n) => line.includes(n)) && /executable file not found|no such file or directory/i.test(line));
  if (reason === undefined) return undefined;
  return new ExecutableNotFoundError(`${container}: command "${executable}" not found in the container: ${reason.trim()}`, { cause: err });
}
