// The peers this node asks for blobs: the configured static ones plus those in the peer file that
// the node agent keeps up to date (re-read when its mtime changes), never this node itself.
import { stat } from 'node:fs/promises';
import type { Logger } from '../lib/log.js';
import { readJsonIfExists } from '../lib/fsutil.js';

export interface PeerListSettings {
  static: string[];
  file: string;
  listenAddress: string;
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export class PeerList {
  private fileKey = '';
  private fromFile: string[] = [];

  constructor(
    private readonly settings: PeerListSettings,
    private readonly log: Logger,
  ) {}

  async peers(): Promise<string[]> {
    await this.refresh();
    const self = this.settings.listenAddress;
    return [...new Set([...this.settings.static, ...this.fromFile])].filter((p) => p !== self);
  }

  private async refresh(): Promise<void> {
    const file = this.settings.file;
    if (!file) {
      this.fromFile = [];
      this.fileKey = '';
      return;
    }
    const st = await stat(file).catch(() => undefined);
    const key = st ? `${file}|${st.mtimeMs}|${st.size}` : `${file}|none`;
    if (key === this.fileKey) return;
    this.fileKey = key;
    try {
      const doc = st ? await readJsonIfExists<{ peers?: unknown }>(file) : undefined;
      const list = Array.isArray(doc?.peers) ? doc.peers : [];
      this.fromFile = list.filter((p): p is string => typeof p === 'string' && HOST_PORT.test(p));
      this.log.info({ file, peers: this.fromFile.length }, 'peer list loaded');
    } catch (err) {
      // A half-written or broken file keeps the previous list.
      this.log.warn({ file, err }, 'peer list unreadable, keeping the previous one');
    }
  }
}
