// The per-container monitor seam (conmon). A monitor process is started per container (infra or
// app) and outlives the daemon: it runs `<runtime> create`, holds the container's stdio, writes the
// CRI-format log, writes `<exitDir>/<id>` with the exit code when the container's init ends, and
// serves the attach socket and ctl FIFO in the bundle.
//
// API (shared by infra and application containers):
//   start(options) -> { pid, monitorPid }   the container is CREATED when this resolves (the caller
//                                           then runs runtime.start(id)); a failure throws with the
//                                           runtime's own error text, and nothing is left running.
//   attachSocketPath(id)                    unix socket (SOCK_SEQPACKET) for attach: 1st byte of each
//                                           packet is the stream (2 stdout, 3 stderr), input goes
//                                           straight to the container's stdin.
//   ctlPath(bundle)                         FIFO: "1 <h> <w>\n" resizes the tty, "2 0 0\n" reopens the log.
//   resize(bundle, height, width)
//   reopenLog(bundle, logPath)              resolves once the monitor writes to a new file at logPath.
//   monitorPid(bundle)                      the monitor's pid from its pid file (undefined when gone).
//   cleanup(id)                             removes what the monitor leaves outside the bundle.
// Exits are learned from exit files by ExitWatcher (exit-watcher.ts), never from the monitor
// process, so they are seen after a daemon restart too.
import type { OciRuntime } from './oci-runtime.js';

export interface MonitorStartOptions {
  id: string;
  /** OCI bundle dir (config.json + rootfs); the monitor keeps its pid file, attach socket and ctl there. */
  bundle: string;
  runtime: OciRuntime;
  /** CRI-format log file the kubelet asked for; '' = no log (output discarded). */
  logPath: string;
  /** Where the monitor writes `<id>` with the exit code. */
  exitDir: string;
  terminal?: boolean;
  stdin?: boolean;
  /** Keep stdin open after the first attach disconnects (CRI stdin_once = false). */
  leaveStdinOpen?: boolean;
  /** Cap of the log file in bytes; 0/undefined = none. */
  logSizeMax?: number;
  /** Give up waiting for the pid after this long (the monitor and container are then killed). */
  timeoutMs?: number;
  /**
   * Restore from CRIU images (`<runtime> restore` instead of `create`): the container is RUNNING
   * when start resolves. runtimeArgs are extra global flags (the CRIU binary), runtimeOpts restore
   * flags (--tcp-established, ...).
   */
  restore?: { imagePath: string; runtimeArgs: string[]; runtimeOpts: string[] };
}

export interface MonitorStarted {
  /** Host pid of the container's init process. */
  pid: number;
  /** Pid of the monitor process (not a child of the daemon). */
  monitorPid: number;
}

export interface Monitor {
  start(options: MonitorStartOptions): Promise<MonitorStarted>;
  attachSocketPath(id: string): string;
  ctlPath(bundle: string): string;
  resize(bundle: string, height: number, width: number): Promise<void>;
  reopenLog(bundle: string, logPath: string): Promise<void>;
  monitorPid(bundle: string): Promise<number | undefined>;
  cleanup(id: string): Promise<void>;
}
