// The pod sandbox store: every pod in memory (reads never touch the disk: the kubelet polls
// ListPodSandbox every second) and persisted atomically as <rootDir>/sandboxes/<id>/sandbox.json
// on every change. Names (name_namespace_uid_attempt) are unique, reserved from the start of
// RunPodSandbox. A pod can be hidden: built for a caller that went away and kept for its retry,
// it is invisible to lookups and lists until handed over.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findByIdOrPrefix, NameReservations } from '../../lib/id-index.js';
import { atomicWriteJson, readJsonIfExists } from '../../lib/fsutil.js';
import type { Sandbox, SandboxFilter, SandboxMetadata } from './sandbox-config.js';
import { listIds } from './pod-files.js';

export interface LoadedSandbox {
  id: string;
  record?: Sandbox;
  error?: string;
}

export class SandboxStore {
  private readonly sandboxes = new Map<string, Sandbox>();
  /** name key -> id (reserved from the start of RunPodSandbox). */
  private readonly names = new NameReservations();
  private readonly hidden = new Set<string>();

  constructor(readonly dir: string) {}

  recordDir(id: string): string {
    return join(this.dir, id);
  }

  static nameKey(m: SandboxMetadata): string {
    return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
  }

  /** Reserve a name for `id`; AlreadyExists naming the holder when it is taken. */
  reserveName(key: string, id: string, what: string): void {
    this.names.reserve(key, id, what, (holder) => `"${holder}"`);
  }

  releaseName(key: string, id: string): void {
    this.names.release(key, id);
  }

  nameHolder(key: string): string | undefined {
    return this.names.holder(key);
  }

  /** By exact id, hidden pods included (the manager's own bookkeeping). */
  get(id: string): Sandbox | undefined {
    return this.sandboxes.get(id);
  }

  /** By full id or unique prefix, visible pods only. */
  find(idOrPrefix: string): Sandbox | undefined {
    return findByIdOrPrefix(this.sandboxes, idOrPrefix, this.hidden, 'pod sandbox');
  }

  /** Visible pods matching the filter, oldest first. A NOTREADY filter matches UNKNOWN too (CRI has no UNKNOWN pod state). */
  list(filter: SandboxFilter = {}): Sandbox[] {
    const labels = Object.entries(filter.labelSelector ?? {});
    return [...this.visible()]
      .filter((s) => !filter.id || s.id.startsWith(filter.id))
      .filter((s) => !filter.state || s.state === filter.state || (filter.state === 'NOTREADY' && s.state === 'UNKNOWN'))
      .filter((s) => labels.every(([k, v]) => s.labels[k] === v))
      .sort((a, b) => (BigInt(a.createdAtNs) < BigInt(b.createdAtNs) ? -1 : 1));
  }

  /** Every pod, hidden ones included. */
  all(): IterableIterator<Sandbox> {
    return this.sandboxes.values();
  }

  *visible(): Generator<Sandbox> {
    for (const s of this.sandboxes.values()) if (!this.hidden.has(s.id)) yield s;
  }

  has(id: string): boolean {
    return this.sandboxes.has(id);
  }

  hide(id: string): void {
    this.hidden.add(id);
  }

  reveal(id: string): void {
    this.hidden.delete(id);
  }

  isHidden(id: string): boolean {
    return this.hidden.has(id);
  }

  /**
   * Persist the record atomically, then keep it in memory (a failed write changes nothing). A
   * READY record is not synced: after a crash of the machine no pod is ready, and a lost one is
   * the record before it (NOTREADY and UNKNOWN ones are synced) or none, whose leftovers the
   * start-up sweep finds (the CNI cache, synced before ADD, gets its DEL).
   */
  async save(s: Sandbox): Promise<void> {
    await mkdir(this.recordDir(s.id), { recursive: true, mode: 0o700 });
    await atomicWriteJson(join(this.recordDir(s.id), 'sandbox.json'), s, 0o600, { sync: s.state !== 'READY' });
    this.sandboxes.set(s.id, s);
  }

  /** Forget the pod, delete its record dir and release its name. */
  async delete(id: string): Promise<void> {
    const s = this.sandboxes.get(id);
    await rm(this.recordDir(id), { recursive: true, force: true });
    this.sandboxes.delete(id);
    this.hidden.delete(id);
    if (s) this.releaseName(SandboxStore.nameKey(s.config.metadata), id);
  }

  /** Read every record dir (recovery); the caller decides what each pod's state is now. */
  async load(): Promise<LoadedSandbox[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const out: LoadedSandbox[] = [];
    for (const id of await listIds(this.dir)) {
      try {
        const record = await readJsonIfExists<Sandbox>(join(this.dir, id, 'sandbox.json'));
        out.push(record ? { id, record } : { id });
      } catch (err) {
        out.push({ id, error: (err as Error).message });
      }
    }
    return out;
  }

  /** Put a recovered pod in memory with its name (the caller persisted any change). */
  restore(s: Sandbox): void {
    this.sandboxes.set(s.id, s);
    this.names.assign(SandboxStore.nameKey(s.config.metadata), s.id);
  }
}
