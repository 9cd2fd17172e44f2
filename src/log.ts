// The daemon's logger: pino JSON on stderr, or pretty text for humans. Ids go in fields, not text.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LogOptions {
  level: string;
  format: 'json' | 'text';
}

export function createLogger(options: LogOptions): Logger {
  const base = { level: options.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.format === 'text') {
    return pino(base, pretty({ destination: 2, colorize: false, sync: true, translateTime: 'SYS:standard' }));
  }
  return pino(base, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything: for unit tests and CLI commands that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
