// The container store: every container in memory (reads never touch the disk: the kubelet polls
// ListContainers every second) and persisted atomically under <rootDir>/containers/<id>/ as
// meta.json (written at create, rewritten by resource updates) and status.json (every state
// change). Names are unique per pod sandbox + name + attempt, as the kubelet expects. A container
// can be hidden: built for a caller that went away and kept for its retry, it is invisible to
// lookups and lists (not to its pod's stop/remove) until handed over.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { findByIdOrPrefix, NameReservations } from '../../lib/id-index.js';
import { atomicWriteJson, readJsonIfExists } from '../../lib/fsutil.js';
import type { Container, ContainerFilter, ContainerMeta, ContainerStatusRecord } from './container-record.js';

export interface LoadedRecord {
  id: string;
  meta?: ContainerMeta;
  status?: ContainerStatusRecord;
  error?: string;
}

export class ContainerStore {
  private readonly containers = new Map<string, Container>();
  /** sandbox/name/attempt -> id (reserved from the start of CreateContainer). */
  private readonly names = new NameReservations();
  private readonly hidden = new Set<string>();
  private changes = 0;

  constructor(readonly dir: string) {}

  /** Bumped by every change of what list() may answer: a cached list of an older version is stale. */
  get version(): number {
    return this.changes;
  }

  private put(c: Container): void {
    this.containers.set(c.id, c);
    this.changes++;
  }

  recordDir(id: string): string {
    return join(this.dir, id);
  }

  static nameKey(podSandboxId: string, name: string, attempt: number): string {
    return `${podSandboxId}/${name}/${attempt}`;
  }

  /** Reserve a name for `id`; AlreadyExists naming the holder when it is taken. */
  reserveName(key: string, id: string, what: string): void {
    this.names.reserve(key, id, what, (holder) => `container "${holder}"`);
  }

  releaseName(key: string, id: string): void {
    this.names.release(key, id);
  }

  get(id: string): Container | undefined {
    return this.containers.get(id);
  }

  /** By full id or unique prefix, visible containers only. */
  find(idOrPrefix: string): Container | undefined {
    return findByIdOrPrefix(this.containers, idOrPrefix, this.hidden, 'container');
  }

  list(filter: ContainerFilter = {}): Container[] {
    const out: Container[] = [];
    const labels = Object.entries(filter.labelSelector ?? {});
    for (const c of this.containers.values()) {
      if (this.hidden.has(c.id)) continue;
      if (filter.id && !c.id.startsWith(filter.id)) continue;
      if (filter.state && c.status.state !== filter.state) continue;
      if (filter.podSandboxId && !c.podSandboxId.startsWith(filter.podSandboxId)) continue;
      if (labels.length > 0 && !labels.every(([k, v]) => c.config.labels?.[k] === v)) continue;
      out.push(c);
    }
    return out;
  }

  ofSandbox(podSandboxId: string): Container[] {
    return [...this.containers.values()].filter((c) => c.podSandboxId === podSandboxId);
  }

  size(): number {
    return this.containers.size;
  }

  /** Every container, hidden ones included. */
  all(): IterableIterator<Container> {
    return this.containers.values();
  }

  *visible(): Generator<Container> {
    for (const c of this.containers.values()) if (!this.hidden.has(c.id)) yield c;
  }

  hide(id: string): void {
    this.hidden.add(id);
    this.changes++;
  }

  reveal(id: string): void {
    this.hidden.delete(id);
    this.changes++;
  }

  isHidden(id: string): boolean {
    return this.hidden.has(id);
  }

  /** Persist meta + status and keep in memory. */
  async add(c: Container): Promise<void> {
    const { status, ...meta } = c;
    // Side by side: a status without meta is never read back, a meta without status is checked
    // against the runtime at recovery.
    await Promise.all([this.writeMeta(meta), this.writeStatus(c.id, status)]);
    this.put(c);
  }

  /** Persist the meta of a container being created (its record dir made), not yet in memory. */
  async writeMeta(meta: ContainerMeta): Promise<void> {
    await mkdir(this.recordDir(meta.id), { recursive: true, mode: 0o700 });
    await atomicWriteJson(join(this.recordDir(meta.id), 'meta.json'), meta, 0o600);
  }

  /** Keep a just-created container in memory whose meta writeMeta persisted. */
  async addCreated(c: Container): Promise<void> {
    await this.writeStatus(c.id, c.status);
    this.put(c);
  }

  /**
   * A CREATED or RUNNING status is written but not synced: what it says (created or running, the
   * pids) is what recovery asks the runtime anyway, and after a crash of the machine nothing runs;
   * one lost reads back as the status before it (or none), recovered the same way. What outlives
   * the processes (EXITED with its code and times, UNKNOWN with the cleanup owed) is synced.
   */
  private async writeStatus(id: string, status: ContainerStatusRecord): Promise<void> {
    const sync = status.state !== 'CREATED' && status.state !== 'RUNNING';
    await atomicWriteJson(join(this.recordDir(id), 'status.json'), status, 0o600, { sync });
  }

  async setStatus(id: string, status: ContainerStatusRecord): Promise<Container | undefined> {
    const c = this.containers.get(id);
    if (!c) return undefined;
    await this.writeStatus(id, status);
    const next = { ...c, status };
    this.put(next);
    return next;
  }

  async setMeta(id: string, meta: ContainerMeta): Promise<Container | undefined> {
    const c = this.containers.get(id);
    if (!c) return undefined;
    await atomicWriteJson(join(this.recordDir(id), 'meta.json'), meta, 0o600);
    const next = { ...meta, status: c.status };
    this.put(next);
    return next;
  }

  /** Forget the container and release its name; its record dir is the caller's to discard first. */
  forget(id: string): void {
    const c = this.containers.get(id);
    this.containers.delete(id);
    this.hidden.delete(id);
    this.changes++;
    if (c) this.releaseName(ContainerStore.nameKey(c.podSandboxId, c.config.metadata.name, c.config.metadata.attempt), id);
  }

  /** Read every record dir (recovery); the caller decides what each one's state is now. */
  async load(): Promise<LoadedRecord[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out: LoadedRecord[] = [];
    for (const e of await readdir(this.dir, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      try {
        const meta = await readJsonIfExists<ContainerMeta>(join(this.dir, e.name, 'meta.json'));
        const status = await readJsonIfExists<ContainerStatusRecord>(join(this.dir, e.name, 'status.json'));
        out.push({ id: e.name, ...(meta ? { meta } : {}), ...(status ? { status } : {}) });
      } catch (err) {
        out.push({ id: e.name, error: (err as Error).message });
      }
    }
    return out;
  }

  /** Put a recovered container in memory (its status was persisted by the caller when it changed). */
  restore(c: Container): void {
    this.put(c);
    this.names.assign(ContainerStore.nameKey(c.podSandboxId, c.config.metadata.name, c.config.metadata.attempt), c.id);
  }
}
