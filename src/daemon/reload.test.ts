import { describe, expect, it } from 'vitest';
import { createLogger } from '../lib/log.js';
import { defaultConfig } from './config-schema.js';
import { applyReload, changedKeys } from './reload.js';

describe('configuration reload', () => {
  it('names the leaf keys that changed', () => {
    const a = defaultConfig();
    const b = defaultConfig();
    b.logLevel = 'debug';
    b.registry.mirrors = { 'docker.io': ['http://127.0.0.1:5000'] };
    b.socket = '/tmp/other.sock';
    expect(changedKeys(a, b).sort()).toEqual(['logLevel', 'registry.mirrors', 'socket']);
    expect(changedKeys(a, defaultConfig())).toEqual([]);
  });

  it('applies the log level to the root logger and to children made before the reload', () => {
    const log = createLogger({ level: 'info', format: 'json' });
    const child = log.child({ component: 'images' });
    const grandchild = child.child({ image: 'x' });
    const live = defaultConfig();
    const next = defaultConfig();
    next.logLevel = 'debug';
    const out = applyReload(live, next, log);
    expect(out).toEqual({ applied: ['logLevel'], needRestart: [] });
    expect(live.logLevel).toBe('debug');
    expect([log.level, child.level, grandchild.level]).toEqual(['debug', 'debug', 'debug']);
    expect(log.child({}).level).toBe('debug');
  });

  it('updates the registry section in place, so holders of config.registry see the new values', () => {
    const log = createLogger({ level: 'info', format: 'json' });
    const live = defaultConfig();
    const registry = live.registry;
    const next = defaultConfig();
    next.registry.insecure = ['127.0.0.1:5000'];
    next.registry.maxConcurrentDownloads = 7;
    const seen: string[][] = [];
    const out = applyReload(live, next, log, [(_c, applied) => seen.push(applied)]);
    expect(out.applied.sort()).toEqual(['registry.insecure', 'registry.maxConcurrentDownloads']);
    expect(registry.insecure).toEqual(['127.0.0.1:5000']);
    expect(registry.maxConcurrentDownloads).toBe(7);
    expect(seen).toEqual([out.applied]);
  });

  it('keeps keys that need a restart at their running value and reports them', () => {
    const log = createLogger({ level: 'info', format: 'json' });
    const live = defaultConfig();
    const next = defaultConfig();
    next.rootDir = '/srv/nexcage';
    next.runtimes = { crun: { path: 'crun', root: '', systemdCgroup: false } };
    const seen: string[][] = [];
    const out = applyReload(live, next, log, [(_c, applied) => seen.push(applied)]);
    expect(out.applied).toEqual([]);
    expect(out.needRestart.sort()).toEqual(['rootDir', 'runtimes']);
    expect(live.rootDir).toBe('/var/lib/nexcage');
    expect(Object.keys(live.runtimes)).toEqual(['runc']);
    expect(seen).toEqual([]);
  });
});
