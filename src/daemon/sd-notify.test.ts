import { describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { notifyReceiver as receiver } from '../../test/support/notify-receiver.js';
import { sdNotifier, startWatchdog, watchdogInterval } from './sd-notify.js';

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('systemd notifications', () => {
  it('derives the watchdog interval from WATCHDOG_USEC, only for our own pid', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toBeUndefined();
    expect(watchdogInterval({}, 42)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: 'x' }, 42)).toBeUndefined();
  });

  it('does nothing without NOTIFY_SOCKET (not started by systemd)', async () => {
    const n = sdNotifier(silentLogger(), {}, 1, '/nonexistent/systemd-notify');
    expect(n.enabled).toBe(false);
    await n.notify({ READY: '1' });
  });

  it('sends READY=1 with our pid through systemd-notify', async () => {
    const r = await receiver();
    try {
      const n = sdNotifier(silentLogger(), { NOTIFY_SOCKET: r.path }, process.pid);
      await n.notify({ READY: '1', STATUS: 'serving' });
      await until(() => r.text().includes('STATUS=serving'));
      expect(r.text()).toContain(`MAINPID=${process.pid}`);
      expect(r.text()).toContain('READY=1');
    } finally {
      await r.close();
    }
  });

  it('pets the watchdog only while the runtime is ready', async () => {
    const r = await receiver();
    let ready = false;
    const n = sdNotifier(silentLogger(), { NOTIFY_SOCKET: r.path, WATCHDOG_USEC: '100000' }, process.pid);
    const stop = startWatchdog(n, async () => ({ ready, reason: 'runc missing' }), silentLogger());
    try {
      await until(() => r.text().includes('STATUS=runtime not ready: runc missing'));
      expect(r.text()).not.toContain('WATCHDOG=1');
      ready = true;
      await until(() => r.text().includes('WATCHDOG=1'));
      expect(r.text()).toContain('WATCHDOG=1');
    } finally {
      stop();
      await r.close();
    }
  });
});
