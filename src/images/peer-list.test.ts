import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../lib/log.js';
import { PeerList } from './peer-list.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'peer-list-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The agent rewrites the file atomically; a new mtime (and usually size) is how a change is seen.
function write(file: string, doc: unknown, mtimeSec: number): void {
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  utimesSync(file, mtimeSec, mtimeSec);
}

describe('PeerList', () => {
  it('static peers only (no file), without this node itself and without duplicates', async () => {
    const list = new PeerList({ static: ['10.0.0.1:5050', '10.0.0.2:5050', '10.0.0.1:5050'], file: '', listenAddress: '10.0.0.2:5050' }, log);
    expect(await list.peers()).toEqual(['10.0.0.1:5050']);
  });

  it('adds the HOST:PORT entries of the peer file, skipping malformed ones, and follows changes to it', async () => {
    const file = join(dir, 'peers.json');
    write(file, { peers: ['10.0.0.3:5050', '[fd00::4]:5050', 'no-port', 'bad host:1', 42, null, '10.0.0.1:5050', '10.0.0.9:5050'] }, 1_000);
    const list = new PeerList({ static: ['10.0.0.1:5050'], file, listenAddress: '10.0.0.9:5050' }, log);
    expect(await list.peers()).toEqual(['10.0.0.1:5050', '10.0.0.3:5050', '[fd00::4]:5050']);

    write(file, { peers: ['10.0.0.5:5050'] }, 2_000);
    expect(await list.peers()).toEqual(['10.0.0.1:5050', '10.0.0.5:5050']);

    // A document without a peers array means no peers from the file.
    write(file, { nodes: ['10.0.0.6:5050'] }, 3_000);
    expect(await list.peers()).toEqual(['10.0.0.1:5050']);
  });

  it('keeps the previous list while the file is broken, and drops it once the file is gone', async () => {
    const file = join(dir, 'broken.json');
    write(file, { peers: ['10.0.0.7:5050'] }, 1_000);
    const list = new PeerList({ static: [], file, listenAddress: '' }, log);
    expect(await list.peers()).toEqual(['10.0.0.7:5050']);

    write(file, '{"peers": ["10.0.0.8:50', 2_000);
    expect(await list.peers()).toEqual(['10.0.0.7:5050']);

    rmSync(file);
    expect(await list.peers()).toEqual([]);

    write(file, { peers: ['10.0.0.8:5050'] }, 4_000);
    expect(await list.peers()).toEqual(['10.0.0.8:5050']);
  });

  it('a file setting cleared on reload drops the file peers', async () => {
    const file = join(dir, 'cleared.json');
    write(file, { peers: ['10.0.0.7:5050'] }, 1_000);
    const settings = { static: ['10.0.0.1:5050'], file, listenAddress: '' };
    const list = new PeerList(settings, log);
    expect(await list.peers()).toEqual(['10.0.0.1:5050', '10.0.0.7:5050']);
    settings.file = '';
    expect(await list.peers()).toEqual(['10.0.0.1:5050']);
  });
});
