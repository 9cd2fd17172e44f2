// Whether this node can checkpoint containers: the configured CRIU binary (a name on PATH or an
// absolute path) must run and pass `criu check` on this kernel. Probed on first use and kept: a
// working CRIU stays working; a failed probe is retried after a while (an operator may install
// CRIU without restarting the daemon). Verbose Status shows the answer, CheckpointContainer and
// restores refuse with its reason.
import { access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { errorMessage } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';

export interface CheckpointSupport {
  available: boolean;
  /** The resolved binary ('' when not found). */
  criu: string;
  /** `criu --version`'s version ('' when unknown). */
  version: string;
  /** Why checkpointing is unavailable ('' when it is available). */
  reason: string;
}

export interface CriuProbeOptions {
  /** The configured criuPath: a name looked up on PATH or an absolute path. */
  path: string;
  /** How long a failed probe is kept before the next call probes again (default 30 s). */
  retryAfterMs?: number;
  /** PATH to search (default: the daemon's). */
  searchPath?: string;
}

export class CriuProbe {
  private cached: { at: number; result: Promise<CheckpointSupport> } | undefined;

  constructor(private readonly o: CriuProbeOptions) {}

  support(): Promise<CheckpointSupport> {
    const now = Date.now();
    const c = this.cached;
    if (c) {
      // A success is kept; a failure only for a while.
      const keep = c.result.then((r) => r.available || now - c.at < (this.o.retryAfterMs ?? 30_000));
      return keep.then((k) => (k ? c.result : this.probeNow()));
    }
    return this.probeNow();
  }

  private probeNow(): Promise<CheckpointSupport> {
    const result = probeCriu(this.o.path, this.o.searchPath ?? process.env.PATH ?? '');
    this.cached = { at: Date.now(), result };
    return result;
  }
}

export async function findBinary(name: string, searchPath: string): Promise<string | undefined> {
  const candidates = name.includes('/') ? [name] : searchPath.split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  for (const c of candidates) {
    if (await access(c, constants.X_OK).then(() => true, () => false)) return c;
  }
  return undefined;
}

async function probeCriu(path: string, searchPath: string): Promise<CheckpointSupport> {
  const criu = await findBinary(path, searchPath);
  if (!criu) return { available: false, criu: '', version: '', reason: `CRIU binary "${path}" not found or not executable (criuPath; scripts/install-criu.sh builds one)` };
  const ver = await run(criu, ['--version'], { timeoutMs: 10_000, allowFailure: true }).catch((err: unknown) => ({ exitCode: -1, stdout: '', stderr: errorMessage(err) }));
  const version = /Version:\s*(\S+)/.exec(ver.stdout)?.[1] ?? '';
  if (ver.exitCode !== 0 || version === '') return { available: false, criu, version, reason: `${criu} --version failed: ${(ver.stderr || ver.stdout).trim() || `exit code ${ver.exitCode}`}` };
  const check = await run(criu, ['check'], { timeoutMs: 30_000, allowFailure: true }).catch((err: unknown) => ({ exitCode: -1, stdout: '', stderr: errorMessage(err) }));
  if (check.exitCode !== 0) {
    const why = lastErrorLine(`${check.stderr}\n${check.stdout}`);
    return { available: false, criu, version, reason: `criu ${version} at ${criu} fails \`criu check\` on this kernel${why ? `: ${why}` : ''}` };
  }
  return { available: true, criu, version, reason: '' };
}

/** CRIU prints a line per problem ("Error (criu/...): ..."); the last one says most. */
function lastErrorLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return [...lines].reverse().find((l) => /error/i.test(l)) ?? lines.at(-1) ?? '';
}
