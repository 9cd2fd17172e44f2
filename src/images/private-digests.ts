// Digests fetched for pulls that carried credentials (or found some in the credentials file):
// the peer server keeps them to itself unless told otherwise, so a private image never leaks to
// a node that could not pull it. Kept in one JSON file so a restart remembers them.
import { atomicWriteJson, readJsonIfExists } from '../lib/fsutil.js';

export class PrivateDigests {
  private readonly set = new Set<string>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    const doc = await readJsonIfExists<{ digests?: string[] }>(this.file);
    for (const d of doc?.digests ?? []) this.set.add(d);
  }

  has(digest: string): boolean {
    return this.set.has(digest);
  }

  /** Marks a digest private; resolves once that is on disk (before any byte of it is stored). */
  add(digest: string): Promise<void> {
    if (this.set.has(digest)) return this.writing;
    this.set.add(digest);
    this.writing = this.writing.catch(() => undefined).then(() => atomicWriteJson(this.file, { digests: [...this.set] }));
    return this.writing;
  }
}
