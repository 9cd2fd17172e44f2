// Learns container exits from the monitor's exit files (`<dir>/<id>` holding the exit code):
// fs.watch for files that appear while the daemon runs, plus a scan at start-up for the ones
// written while it was down. Shared by sandboxes and containers: each subscribes and
// picks its own ids.
//
// API: new ExitWatcher(dir, log); await start(); on(listener) -> unsubscribe;
//      read(id) -> ExitInfo | undefined (the file as it is now); remove(id) (after the object is gone);
//      stop().
import { statSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';

export interface ExitInfo {
  id: string;
  exitCode: number;
  /** When the exit file was written, in nanoseconds since the epoch. */
  finishedAtNs: bigint;
}

export type ExitListener = (exit: ExitInfo) => void;

/** What the sandbox and container managers use of the watcher (a seam tests fake). */
export type ExitFiles = Pick<ExitWatcher, 'dir' | 'on' | 'read' | 'remove'>;

export class ExitWatcher {
  private watcher: FSWatcher | undefined;
  private readonly listeners = new Set<ExitListener>();
  /** Ids already reported, so a rename + change pair is one event. */
  private readonly seen = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<ExitInfo[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.watcher = watch(this.dir, (_event, name) => {
      if (name && !name.startsWith('.')) void this.check(name);
    });
    this.watcher.on('error', (err) => this.log.error({ err, dir: this.dir }, 'exit watcher failed'));
    const found: ExitInfo[] = [];
    for (const name of await readdir(this.dir)) {
      if (name.startsWith('.')) continue;
      const info = await this.read(name);
      if (info) {
        this.seen.add(name);
        found.push(info);
      }
    }
    return found;
  }

  on(listener: ExitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async read(id: string): Promise<ExitInfo | undefined> {
    const path = join(this.dir, id);
    try {
      // Usually there is no file yet (a running container; the sweep asks for every one of them):
      // a stat that returns nothing is one syscall, where a failed read costs rejected promises
      // with captured stacks, which with hundreds of containers stalled the kubelet's polls.
      const st = statSync(path, { bigint: true, throwIfNoEntry: false });
      if (!st) return undefined;
      const text = await readFile(path, 'utf8');
      if (text.trim() === '' || !/^-?\d+$/.test(text.trim())) return undefined; // still being written
      return { id, exitCode: Number(text.trim()), finishedAtNs: st.mtimeNs };
    } catch {
      return undefined;
    }
  }

  async remove(id: string): Promise<void> {
    this.seen.delete(id);
    await rm(join(this.dir, id), { force: true });
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async check(id: string): Promise<void> {
    if (this.seen.has(id)) return;
    const info = await this.read(id);
    if (!info || this.seen.has(id)) return;
    this.seen.add(id);
    for (const l of this.listeners) {
      try {
        l(info);
      } catch (err) {
        this.log.error({ err, id }, 'exit listener failed');
      }
    }
  }
}
