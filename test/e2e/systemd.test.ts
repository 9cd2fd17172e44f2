// The daemon under systemd: Type=notify readiness, the watchdog driven by CRI Status, and
// SIGHUP (ExecReload) reloading the log level and registry settings. systemd itself does not run
// on this VM, so a socat datagram socket stands in for NOTIFY_SOCKET; the real daemon and the
// real systemd-notify do the sending.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { buildTestImages, pushImage } from '../support/image-builder.js';
import { notifyReceiver, type NotifyReceiver } from '../support/notify-receiver.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

describe('the daemon under systemd', () => {
  let notify: NotifyReceiver;
  let d: Daemon;
  beforeAll(async () => {
    notify = await notifyReceiver();
    d = t.track(new Daemon(t.dir(), 'sd', { config: { logLevel: 'info' }, env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '300000' } }));
    await d.start();
  });
  afterAll(async () => notify?.close());

  it('tells systemd READY=1 from its own pid once the socket serves', async () => {
    await waitFor('READY=1', () => notify.text().includes('READY=1'));
    expect(notify.text()).toContain(`MAINPID=${d.pid}`);
    expect(notify.text()).toMatch(/STATUS=serving on \S+sd\.sock/);
    await call(d.client.runtime, 'Version', {});
  });

  it('pets the watchdog while CRI Status says RuntimeReady', async () => {
    await waitFor('WATCHDOG=1', () => notify.text().includes('WATCHDOG=1'));
  });

  it('reloads the log level on SIGHUP without restarting', async () => {
    await call(d.client.runtime, 'Version', {});
    expect(d.logs().filter((l) => l.msg === 'cri call')).toEqual([]);
    writeFileSync(d.configPath, JSON.stringify({ ...d.config(), logLevel: 'debug', registry: { insecure: ['127.0.0.1:5000'] } }));
    const pid = d.pid;
    process.kill(pid!, 'SIGHUP');
    const done = await waitFor('the reload', () => d.logs().find((l) => l.msg === 'configuration reloaded'));
    expect(done.applied).toEqual(['logLevel', 'registry.insecure']);
    expect(notify.text()).toContain('RELOADING=1');
    await call(d.client.runtime, 'Version', {});
    await waitFor('a debug line for the call', () => d.logs().some((l) => l.msg === 'cri call' && l.method === 'Version'));
    expect(d.pid).toBe(pid);
    const st = await call(d.client.runtime, 'Status', { verbose: true });
    expect(JSON.parse(st.info.config ?? '{}').registry.insecure).toEqual(['127.0.0.1:5000']);
  });

  it('applies new registry mirrors on SIGHUP to the next pull', async () => {
    const registry = await TestRegistry.start({ parent: t.dir().path });
    try {
      const images = await buildTestImages();
      await pushImage(registry.pushTarget, 'test/busybox', ['latest'], images.user);
      // A registry name that resolves nowhere: only a mirror can serve it.
      const ref = 'mirror-only.invalid/test/busybox:latest';
      await expect(call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000)).rejects.toThrow();
      writeFileSync(d.configPath, JSON.stringify({ ...d.config(), logLevel: 'debug', registry: { mirrors: { 'mirror-only.invalid': [registry.url] } } }));
      const before = d.logs().filter((l) => l.msg === 'configuration reloaded').length;
      process.kill(d.pid!, 'SIGHUP');
      const done = await waitFor('the reload', () => d.logs().filter((l) => l.msg === 'configuration reloaded')[before]);
      expect(done.applied).toContain('registry.mirrors');
      const res = await call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000);
      expect(res.image_ref).toBe(images.user.configDigest);
    } finally {
      await registry.stop();
    }
  });

  it('reports keys that need a restart and keeps their running value', async () => {
    writeFileSync(d.configPath, JSON.stringify({ ...d.config(), logLevel: 'debug', shutdownTimeoutSeconds: 9 }));
    process.kill(d.pid!, 'SIGHUP');
    const warn = await waitFor('the restart warning', () => d.logs().find((l) => l.msg === 'changed keys take effect only after a restart'));
    expect(warn.keys).toContain('shutdownTimeoutSeconds');
  });

  it('keeps serving with the running config when the new file is invalid', async () => {
    writeFileSync(d.configPath, '{ "logLevel": "loud" }');
    process.kill(d.pid!, 'SIGHUP');
    const err = await waitFor('the reload error', () => d.logs().find((l) => l.msg === 'configuration reload failed; keeping the running configuration'));
    expect(String(err.err)).toContain('logLevel');
    const v = await call(d.client.runtime, 'Version', {});
    expect(v.runtime_name).toBe('nexcage');
  });
});

describe('the watchdog when the runtime is not ready', () => {
  it('withholds WATCHDOG=1 and says why in STATUS', async () => {
    const notify = await notifyReceiver();
    try {
      const d = t.track(
        new Daemon(t.dir(), 'nort', {
          config: { runtimes: { runc: { path: '/nonexistent/runc' } } },
          env: { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '200000' },
        }),
      );
      await d.start();
      await waitFor('the not-ready status', () => notify.text().includes('STATUS=runtime not ready'));
      expect(notify.text()).toContain('READY=1');
      expect(notify.text()).not.toContain('WATCHDOG=1');
      await d.stop();
      await waitFor('STOPPING=1', () => notify.text().includes('STOPPING=1'));
    } finally {
      await notify.close();
    }
  });
});
