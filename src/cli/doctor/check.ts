// What a doctor check is: a named verdict (OK / WARN / FAIL) with what was found and, when not OK,
// the fix. The host it looks at is injected (paths under a root, PATH, the commands it runs, the
// network), so tests can build a healthy node or any broken one in a temp dir.
import type { Config } from '../../daemon/config-schema.js';

export type Level = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** Short, stable id of the check ("runc", "cgroup-driver", ...). */
  check: string;
  level: Level;
  message: string;
  /** What to do about it; empty when OK. */
  fix: string;
}

export interface CommandOutput {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface DoctorHost {
  /** Prefix for /proc, /sys, /etc, /run, /var/lib/kubelet: '/' on a node, a temp dir in tests. */
  root: string;
  /** Where binaries are looked up (PATH). */
  path: string[];
  kernelRelease: string;
  /** The kubelet's KubeletConfiguration file (read when it exists). */
  kubeletConfig: string;
  /** Runs a command (with a timeout); never throws for a non-zero exit. */
  run(command: string, args: string[]): Promise<CommandOutput>;
  /** HTTP GET with a timeout: the status and the Date header. */
  probe(url: string): Promise<{ status: number; date: string | undefined }>;
  now(): number;
  statfs(path: string): Promise<{ bsize: number; blocks: number; bavail: number; files: number; ffree: number }>;
}

export interface DoctorContext {
  config: Config;
  host: DoctorHost;
  /** The registry whose Date header the clock is compared with when no mirror answers. */
  clockRegistry: string;
}

export type Check = (ctx: DoctorContext) => Promise<CheckResult[]>;

export const ok = (check: string, message: string): CheckResult => ({ check, level: 'ok', message, fix: '' });
export const warn = (check: string, message: string, fix: string): CheckResult => ({ check, level: 'warn', message, fix });
export const fail = (check: string, message: string, fix: string): CheckResult => ({ check, level: 'fail', message, fix });

/** "1.1.5" from "runc version 1.1.5+ds1" and the like: the first dotted number. */
export function versionIn(text: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

/** a < b for dotted versions. */
export function versionBelow(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}
