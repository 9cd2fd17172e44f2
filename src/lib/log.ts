// The daemon's logger: pino JSON on stderr, or pretty text for humans. Ids go in fields, not text.
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type pinoPretty from 'pino-pretty';
import { traceLogFields } from './tracing.js';

export type { Logger };

// pino-pretty (and colorette, tty) only for the text format: the daemon logs JSON.
const require = createRequire(import.meta.url);
const pretty = (options: pinoPretty.PrettyOptions): pinoPretty.PrettyStream => (require('pino-pretty') as typeof pinoPretty)(options);

export interface LogOptions {
  level: string;
  format: 'json' | 'text';
}

// Child loggers copy their parent's level when created; the daemon's reload (SIGHUP) changes the
// level of the root and of every child still alive, so each root remembers its descendants.
const descendants = new WeakMap<Logger, Set<WeakRef<Logger>>>();

export function createLogger(options: LogOptions): Logger {
  const children = new Set<WeakRef<Logger>>();
  const base = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    onChild: (child: Logger) => void children.add(new WeakRef(child)),
    // Inside a traced CRI call every line carries its traceId/spanId (nothing when tracing is off).
    mixin: traceLogFields,
  };
  const log =
    options.format === 'text'
      ? pino(base, pretty({ destination: 2, colorize: false, sync: true, translateTime: 'SYS:standard' }))
      : pino(base, pino.destination({ fd: 2, sync: true }));
  descendants.set(log, children);
  return log;
}

/** Set the level of a logger made by createLogger and of all its (grand)children. */
export function setLogLevel(log: Logger, level: string): void {
  log.level = level;
  const children = descendants.get(log);
  if (!children) return;
  for (const ref of children) {
    const child = ref.deref();
    if (child) child.level = level;
    else children.delete(ref);
  }
}

/** A logger that drops everything: for unit tests and CLI commands that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
