// Monitor implemented with Debian's conmon (2.1.x). conmon double-forks: the process we spawn
// exits at once and the monitor lives on in its own session, re-parented away from the daemon,
// so containers keep running and logging across daemon restarts (systemd KillMode=process). It
// reports the container pid, or runc's error, through the sync pipe (_OCI_SYNCPIPE, one JSON line
// `{"data": <pid or -1>, "message": "..."}` with --api-version 1); its stderr is useless once it
// has forked. --socket-dir-path is always passed: its default (/var/run/crio) may not exist and
// conmon then exits silently.
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CommandError, InternalError } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import type { Logger } from '../../lib/log.js';
import type { Monitor, MonitorStartOptions, MonitorStarted } from './monitor.js';
import { runtimeLogErrors } from './oci-runtime.js';

export interface ConmonMonitorOptions {
  /** The conmon binary (resolved path). */
  binary: string;
  /** Short dir for attach socket symlinks (unix socket paths are limited to 108 bytes). */
  socketDir: string;
  log: Logger;
  /** How long reopenLog waits for conmon to open the new log file; default 5 s. */
  reopenTimeoutMs?: number;
}

interface SyncMessage {
  data?: number;
  pid?: number;
  message?: string;
}

export class ConmonMonitor implements Monitor {
  constructor(private readonly o: ConmonMonitorOptions) {}

  async start(s: MonitorStartOptions): Promise<MonitorStarted> {
    const runtimeLog = join(s.bundle, 'runtime.log');
    // conmon exits without a word when its socket dir is missing.
    await mkdir(this.o.socketDir, { recursive: true, mode: 0o700 });
    const args = [
      '--api-version', '1',
      '--cid', s.id,
      '--cuuid', s.id,
      '--name', s.id,
      '--runtime', s.runtime.binary,
      '--bundle', s.bundle,
      '--container-pidfile', join(s.bundle, 'pid'),
      '--conmon-pidfile', join(s.bundle, 'conmon.pid'),
      '--log-path', s.logPath === '' ? 'none' : `k8s-file:${s.logPath}`,
      '--exit-dir', s.exitDir,
      '--socket-dir-path', this.o.socketDir,
      '--syslog',
      '--log-level', 'error',
    ];
    for (const a of [...s.runtime.globalArgs(runtimeLog), ...(s.restore?.runtimeArgs ?? [])]) args.push('--runtime-arg', a);
    // conmon runs `<runtime> restore --detach --image-path P --work-path <bundle>` instead of create.
    if (s.restore) args.push('--restore', s.restore.imagePath, ...s.restore.runtimeOpts.flatMap((opt) => ['--runtime-opt', opt]));
    if (s.runtime.systemdCgroup) args.push('--systemd-cgroup');
    if (s.terminal) args.push('--terminal');
    if (s.stdin) args.push('--stdin');
    if (s.leaveStdinOpen) args.push('--leave-stdin-open');
    if (s.logSizeMax && s.logSizeMax > 0) args.push('--log-size-max', String(s.logSizeMax));

    // cwd = bundle: conmon writes its `oom` marker file into its working directory.
    const res = await run(this.o.binary, args, { cwd: s.bundle, syncPipe: { env: '_OCI_SYNCPIPE', lines: 1 }, timeoutMs: s.timeoutMs ?? 60_000, allowFailure: true });
    const first = res.sync?.[0];
    let msg: SyncMessage | undefined;
    try {
      msg = first ? (JSON.parse(first) as SyncMessage) : undefined;
    } catch {
      msg = undefined;
    }
    const pid = msg?.data ?? msg?.pid ?? -1;
    if (res.exitCode !== 0 || !msg || pid <= 0) {
      const logged = runtimeLogErrors(await readFile(runtimeLog, 'utf8').catch(() => ''));
      const why = [msg?.message, ...logged, res.stderr.trim()].filter((x): x is string => !!x && x !== '').join('\n');
      // conmon may have left a half-created container; the caller's undo removes it by id.
      throw new CommandError(this.o.binary, ['create', s.id], res.exitCode, res.signal, why, why === '' ? 'conmon reported no container pid' : undefined);
    }
    const monitorPid = await this.monitorPid(s.bundle);
    if (monitorPid === undefined) throw new InternalError(`conmon for "${s.id}" reported pid ${pid} but wrote no pid file`);
    return { pid, monitorPid };
  }

  attachSocketPath(id: string): string {
    return join(this.o.socketDir, id, 'attach');
  }

  ctlPath(bundle: string): string {
    return join(bundle, 'ctl');
  }

  async resize(bundle: string, height: number, width: number): Promise<void> {
    await this.writeCtl(bundle, `1 ${height} ${width}\n`);
  }

  async reopenLog(bundle: string, logPath: string): Promise<void> {
    const before = await stat(logPath).catch(() => undefined);
    await this.writeCtl(bundle, '2 0 0\n');
    // conmon reopens from its event loop some time after the FIFO write; callers (the kubelet's
    // log rotation, critest) look for the new file as soon as the call returns. conmon creates it
    // as "<path>.tmp" and renames it over the path, so a new inode there means it is done.
    const timeoutMs = this.o.reopenTimeoutMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    const isNew = (now: Stats | undefined): boolean => now !== undefined && (before === undefined || now.ino !== before.ino || now.dev !== before.dev);
    while (!isNew(await stat(logPath).catch(() => undefined))) {
      if (Date.now() >= deadline) throw new InternalError(`container monitor in ${bundle} did not reopen log "${logPath}" within ${timeoutMs} ms`);
      await delay(5);
    }
  }

  async monitorPid(bundle: string): Promise<number | undefined> {
    const text = await readFile(join(bundle, 'conmon.pid'), 'utf8').catch(() => '');
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  async cleanup(id: string): Promise<void> {
    await rm(join(this.o.socketDir, id), { force: true });
  }

  private async writeCtl(bundle: string, line: string): Promise<void> {
    // O_NONBLOCK: opening a FIFO nobody reads (conmon gone) fails with ENXIO instead of hanging.
    const fh = await open(this.ctlPath(bundle), constants.O_WRONLY | constants.O_NONBLOCK).catch((err: unknown) => {
      throw new InternalError(`container monitor in ${bundle} is not running (ctl FIFO: ${(err as Error).message})`);
    });
    try {
      await fh.write(line);
    } finally {
      await fh.close();
    }
  }
}
