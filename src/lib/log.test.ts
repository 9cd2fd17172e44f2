// The daemon's logger: both formats build, and setLogLevel (SIGHUP reload) reaches every child and
// grandchild still alive, made before or after the change.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, setLogLevel, silentLogger } from './log.js';

describe('logger', () => {
  it('setLogLevel changes the root, its children and grandchildren, and children made later', () => {
    for (const format of ['json', 'text'] as const) {
      const root = createLogger({ level: 'info', format });
      const child = root.child({ component: 'cni' });
      const grandchild = child.child({ podId: 'p' });
      setLogLevel(root, 'debug');
      expect([root.level, child.level, grandchild.level]).toEqual(['debug', 'debug', 'debug']);
      expect(grandchild.isLevelEnabled('debug')).toBe(true);
      const later = root.child({ component: 'late' });
      setLogLevel(root, 'error');
      expect([root.level, child.level, grandchild.level, later.level]).toEqual(['error', 'error', 'error', 'error']);
    }
  });

  it('a logger not made by createLogger gets the level too (it has no recorded children)', () => {
    const plain = pino({ level: 'info' });
    setLogLevel(plain, 'warn');
    expect(plain.level).toBe('warn');
    expect(silentLogger().level).toBe('silent');
  });
});
