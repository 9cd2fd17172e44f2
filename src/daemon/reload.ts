// SIGHUP (systemd's ExecReload): the daemon re-reads its configuration from the same sources it
// started with and applies what can change while it runs: the log level and the registry
// settings (mirrors, insecure hosts, CA files, credentials, download limits). Everything else
// (socket, directories, runtimes, CNI, streaming) needs a restart and is reported as such.
import type { Logger } from '../lib/log.js';
import { setLogLevel } from '../lib/log.js';
import type { Config } from './config-schema.js';
import { leaves } from './config.js';

/** Keys (or key prefixes) applied in place on reload. */
export const RELOADABLE_KEYS = ['logLevel', 'registry'] as const;

export interface ReloadOutcome {
  /** Leaf keys whose new value is now in effect. */
  applied: string[];
  /** Leaf keys that changed in the sources but keep their old value until a restart. */
  needRestart: string[];
}

/** Called after a reload applied registry changes (the image service re-reads `config.registry`). */
export type ReloadListener = (live: Config, applied: string[]) => void;

function valueAt(config: Config, path: string[]): unknown {
  let v: unknown = config;
  for (const p of path) v = (v as Record<string, unknown>)[p];
  return v;
}

function isReloadable(key: string): boolean {
  return RELOADABLE_KEYS.some((k) => key === k || key.startsWith(`${k}.`));
}

/** The leaf keys whose values differ between two configs. */
export function changedKeys(a: Config, b: Config): string[] {
  return leaves()
    .filter((l) => JSON.stringify(valueAt(a, l.path)) !== JSON.stringify(valueAt(b, l.path)))
    .map((l) => l.key);
}

/**
 * Apply `next` onto the running config `live`, in place: objects holding `live` (or
 * `live.registry`) see the new values on their next use.
 */
export function applyReload(live: Config, next: Config, log: Logger, listeners: readonly ReloadListener[] = []): ReloadOutcome {
  const changed = changedKeys(live, next);
  const applied = changed.filter(isReloadable);
  const needRestart = changed.filter((k) => !isReloadable(k));
  if (applied.includes('logLevel')) {
    live.logLevel = next.logLevel;
    setLogLevel(log, next.logLevel);
  }
  if (applied.some((k) => k.startsWith('registry.'))) {
    // Replace the registry section's fields in place: holders of `live.registry` see them.
    Object.assign(live.registry, structuredClone(next.registry));
  }
  if (applied.length > 0) for (const l of listeners) l(live, applied);
  return { applied, needRestart };
}
