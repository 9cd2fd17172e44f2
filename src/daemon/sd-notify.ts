// systemd's Type=notify protocol: READY=1 once the socket serves, WATCHDOG=1 while CRI Status
// says RuntimeReady, RELOADING=1/STOPPING=1 around reloads and shutdown. NOTIFY_SOCKET is a unix
// datagram socket and Node cannot send datagrams on unix sockets, so the messages go through
// `systemd-notify` (shipped with systemd, so present wherever NOTIFY_SOCKET is set). `--pid`
// names the daemon as the sender, so systemd attributes the message to the unit's main process
// even after systemd-notify exited (the unit sets NotifyAccess=all); `--no-block` skips the
// barrier handshake, which would otherwise wait on the receiver.
import { errorMessage } from '../lib/errors.js';
import { run } from '../lib/exec.js';
import type { Logger } from '../lib/log.js';

export interface SdNotifier {
  /** True when systemd (or something speaking its protocol) listens on NOTIFY_SOCKET. */
  readonly enabled: boolean;
  /** How often to send WATCHDOG=1 (half of WatchdogSec), when systemd watches this process. */
  readonly watchdogIntervalMs: number | undefined;
  /** Send `KEY=value` assignments; never throws (a failed notification is logged). */
  notify(fields: Record<string, string>): Promise<void>;
}

export function sdNotifier(log: Logger, env: NodeJS.ProcessEnv = process.env, pid = process.pid, command = 'systemd-notify'): SdNotifier {
  const socket = env.NOTIFY_SOCKET ?? '';
  const enabled = socket !== '';
  return {
    enabled,
    watchdogIntervalMs: enabled ? watchdogInterval(env, pid) : undefined,
    async notify(fields) {
      if (!enabled) return;
      const args = ['--no-block', `--pid=${pid}`, ...Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)];
      try {
        await run(command, args, { env: { ...env, NOTIFY_SOCKET: socket }, timeoutMs: 5000 });
      } catch (err) {
        log.warn({ err: errorMessage(err), fields }, 'systemd notification failed');
      }
    },
  };
}

/** WATCHDOG_USEC (for WATCHDOG_PID, when given) -> send interval in ms; undefined = no watchdog. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC ?? '');
  if (!Number.isInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface Health {
  ready: boolean;
  reason: string;
}

/**
 * Pets the watchdog every interval, but only while `check` says the runtime is ready: a daemon
 * that serves but cannot run containers gets restarted by systemd after WatchdogSec.
 * Returns a function that stops it.
 */
export function startWatchdog(notifier: SdNotifier, check: () => Promise<Health>, log: Logger): () => void {
  const interval = notifier.watchdogIntervalMs;
  if (interval === undefined) return () => undefined;
  let wasReady = true;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      let health: Health;
      try {
        health = await check();
      } catch (err) {
        health = { ready: false, reason: errorMessage(err) };
      }
      if (health.ready) {
        await notifier.notify(wasReady ? { WATCHDOG: '1' } : { WATCHDOG: '1', STATUS: 'serving; runtime ready' });
        if (!wasReady) log.info('runtime ready again; watchdog resumed');
      } else {
        if (wasReady) log.warn({ reason: health.reason }, 'runtime not ready; withholding the systemd watchdog');
        await notifier.notify({ STATUS: `runtime not ready: ${health.reason}` });
      }
      wasReady = health.ready;
    })().finally(() => {
      busy = false;
    });
  }, interval);
  timer.unref();
  return () => clearInterval(timer);
}
