// The built daemon as a child process for the benchmarks that drive it over its socket, and the
// RSS reading they report. Output is dropped: a benchmark must not pay for log piping.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { call, connectCri, type CriClient } from '../src/cri/client.js';

const REPO = resolve(import.meta.dirname, '../..');

export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export class BenchDaemon {
  proc: ChildProcess | undefined;
  client!: CriClient;
  constructor(
    readonly dir: string,
    readonly config: Record<string, unknown>,
  ) {}

  async start(): Promise<void> {
    const cfgPath = join(this.dir, 'daemon.json');
    await writeFile(cfgPath, JSON.stringify(this.config));
    const proc = spawn(join(REPO, 'node_modules/.bin/node'), [join(REPO, 'dist/src/cli/main.js'), 'serve', '--config', cfgPath], { stdio: 'ignore' });
    this.proc = proc;
    this.client = connectCri(this.config.socket as string);
    // Serving once Version answers (recovery runs before the socket is bound).
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode} before serving`);
      try {
        await call(this.client.runtime, 'Version', {}, 1000);
        return;
      } catch (err) {
        if (i > 300) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    this.client?.close();
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise((r) => {
      p.on('exit', r);
      p.kill('SIGTERM');
    });
  }
}
