// What the image stores find after a restart or a crash, on a real temp dir: the snapshotter drops
// half-built and uncommitted snapshots and keeps committed ones; the image store ignores stray
// files; the private-digest set (what the peer server keeps to itself) is remembered.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from './digest.js';
import { ImageStore } from './image-store.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { PrivateDigests } from './private-digests.js';

const base = mkdtempSync('/tmp/nexcage-stores-restart-');
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(base, `r${++n}`);

describe('OverlaySnapshotter across a restart', () => {
  it('keeps committed snapshots, drops temp dirs, dirs without a record, and records naming another chain', async () => {
    const root = fresh();
    const s = new OverlaySnapshotter(root);
    await s.init();
    const kept = sha256('kept');
    await s.create(kept, sha256('diff'), undefined, async (dir) => {
      writeFileSync(join(dir, 'file'), 'x');
      return { usedBytes: 4096, inodes: 1 };
    });
    // What a crash can leave: a half-built temp dir, a dir whose record was never written, a record
    // moved under another chain's name.
    mkdirSync(join(root, '.tmp-0123-abcd', 'fs'), { recursive: true });
    mkdirSync(join(root, sha256('uncommitted').slice(7), 'fs'), { recursive: true });
    const other = join(root, sha256('other').slice(7));
    mkdirSync(other);
    writeFileSync(join(other, 'snapshot.json'), JSON.stringify({ chainId: sha256('not-other'), diffId: sha256('d'), usedBytes: 0, inodes: 0, createdAt: '' }));

    const again = new OverlaySnapshotter(root);
    await again.init();
    expect(again.list().map((x) => x.chainId)).toEqual([kept]);
    expect(readdirSync(root)).toEqual([kept.slice(7)]);
    expect(existsSync(join(again.fsPath(kept), 'file'))).toBe(true);
    expect(statSync(root).mode & 0o777).toBe(0o711);
  });

  it('a failing fill leaves nothing; concurrent creates of one chain share one build; removing an unknown chain is a no-op', async () => {
    const root = fresh();
    const s = new OverlaySnapshotter(root);
    await s.init();
    await expect(
      s.create(sha256('bad'), sha256('d'), undefined, () => Promise.reject(new Error('layer refused'))),
    ).rejects.toThrow('layer refused');
    expect(readdirSync(root)).toEqual([]);

    let fills = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fill = async (): Promise<{ usedBytes: number; inodes: number }> => {
      fills++;
      await gate;
      return { usedBytes: 0, inodes: 0 };
    };
    const a = s.create(sha256('c'), sha256('d'), sha256('parent'), fill);
    const b = s.create(sha256('c'), sha256('d'), sha256('parent'), fill);
    // A snapshot being built is not removed under its builder.
    await s.remove(sha256('c'));
    release();
    const [x, y] = await Promise.all([a, b]);
    expect(x).toBe(y);
    expect(x.parent).toBe(sha256('parent'));
    expect(fills).toBe(1);
    expect(s.get(sha256('c'))).toBeDefined();
    expect(await s.create(sha256('c'), sha256('d'), undefined, fill)).toBe(x);

    await s.remove(sha256('never-made'));
    await s.remove(sha256('c'));
    expect(s.list()).toEqual([]);
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('ImageStore across a restart', () => {
  it('reloads image records and leases, ignoring stray files', async () => {
    const root = fresh();
    const s = new ImageStore(root);
    await s.init();
    const id = sha256('config');
    await s.put({ id, repoTags: ['r/a:1'], repoDigests: [], size: 1, config: {}, diffIds: [], chainIds: ['c1'], layers: [], manifestDigest: sha256('m'), manifestMediaType: 'x', platform: { os: 'linux', architecture: 'amd64' }, annotations: {}, pinned: false, pulledAt: '' } as never);
    await s.putLease({ holder: 'ctr-1', imageId: id, chainIds: ['c1'] });
    writeFileSync(join(root, 'notes.txt'), 'stray');
    writeFileSync(join(root, 'leases', 'README'), 'stray');
    const again = new ImageStore(root);
    await again.init();
    expect(again.list().map((i) => i.id)).toEqual([id]);
    expect(again.getLease('ctr-1')).toEqual({ holder: 'ctr-1', imageId: id, chainIds: ['c1'] });
    await again.deleteLease('ctr-1');
    await again.delete(id);
    const third = new ImageStore(root);
    await third.init();
    expect(third.list()).toEqual([]);
    expect(third.leaseList()).toEqual([]);
  });
});

describe('PrivateDigests across a restart', () => {
  it('remembers digests marked private; a new store starts empty', async () => {
    const file = join(fresh(), 'private.json');
    mkdirSync(join(file, '..'));
    const p = new PrivateDigests(file);
    await p.init();
    expect(p.has(sha256('a'))).toBe(false);
    await Promise.all([p.add(sha256('a')), p.add(sha256('b')), p.add(sha256('a'))]);
    const again = new PrivateDigests(file);
    await again.init();
    expect(again.has(sha256('a'))).toBe(true);
    expect(again.has(sha256('b'))).toBe(true);
    expect(again.has(sha256('c'))).toBe(false);
    // A file without the list (an older or emptied one) means nothing is private.
    writeFileSync(file, '{}');
    const empty = new PrivateDigests(file);
    await empty.init();
    expect(empty.has(sha256('a'))).toBe(false);
  });
});
