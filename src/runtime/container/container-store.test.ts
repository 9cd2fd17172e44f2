import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Container } from './container-record.js';
import { ContainerStore } from './container-store.js';

function ctr(id: string, pod: string, name: string, extra: Partial<Container> = {}): Container {
  return {
    id,
    podSandboxId: pod,
    config: { metadata: { name, attempt: 0 }, image: { image: 'busybox' }, labels: { app: name } },
    image: { requested: 'busybox', id: 'sha256:1', ref: 'sha256:1' },
    runtimeHandler: 'runc',
    createdAtNs: '1',
    bundle: `/run/b/${id}`,
    rootfs: `/run/b/${id}/rootfs`,
    upperDir: 'u',
    workDir: 'w',
    logPath: '',
    cgroupsPath: `/p/${id}`,
    user: { uid: 0, gid: 0, additionalGids: [0] },
    stopSignal: 'SIGTERM',
    mounts: [],
    status: { state: 'CREATED', pid: 10, monitorPid: 9 },
    ...extra,
  };
}

describe('ContainerStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexcage-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('persists meta and status apart and loads them back', async () => {
    const s = new ContainerStore(dir);
    // The user resolved at create time (ContainerStatus.user) comes back as it was.
    await s.add(ctr('aaa1', 'pod1', 'web', { user: { uid: 1000, gid: 1000, additionalGids: [1000, 50000, 1234], username: 'app' } }));
    await s.setStatus('aaa1', { state: 'RUNNING', pid: 10, monitorPid: 9, startedAtNs: '5' });
    const meta = JSON.parse(await readFile(join(dir, 'aaa1', 'meta.json'), 'utf8')) as Record<string, unknown>;
    expect(meta.status).toBeUndefined();
    const loaded = await new ContainerStore(dir).load();
    expect(loaded).toHaveLength(1);
    expect(loaded[0]?.status).toEqual({ state: 'RUNNING', pid: 10, monitorPid: 9, startedAtNs: '5' });
    expect(loaded[0]?.meta?.config.metadata.name).toBe('web');
    expect(loaded[0]?.meta?.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50000, 1234], username: 'app' });
  });

  it('reserves names per pod + name + attempt and frees them when the container is forgotten', async () => {
    const s = new ContainerStore(dir);
    const key = ContainerStore.nameKey('pod1', 'web', 0);
    s.reserveName(key, 'aaa1', 'web');
    expect(() => s.reserveName(key, 'bbb2', 'container "web"')).toThrow(/already exists as container "aaa1"/);
    s.reserveName(ContainerStore.nameKey('pod1', 'web', 1), 'bbb2', 'web');
    s.reserveName(ContainerStore.nameKey('pod2', 'web', 0), 'ccc3', 'web');
    await s.add(ctr('aaa1', 'pod1', 'web'));
    s.forget('aaa1');
    s.reserveName(key, 'ddd4', 'web');
  });

  it('finds by unique prefix and filters by id, state, pod and labels', async () => {
    const s = new ContainerStore(dir);
    await s.add(ctr('abc1', 'pod1', 'a'));
    await s.add(ctr('abd2', 'pod2', 'b', { status: { state: 'RUNNING', pid: 3, monitorPid: 2 } }));
    expect(s.find('abc')?.id).toBe('abc1');
    expect(() => s.find('ab')).toThrow(/ambiguous/);
    expect(s.list({ state: 'RUNNING' }).map((c) => c.id)).toEqual(['abd2']);
    expect(s.list({ podSandboxId: 'pod1' }).map((c) => c.id)).toEqual(['abc1']);
    expect(s.list({ labelSelector: { app: 'b' } }).map((c) => c.id)).toEqual(['abd2']);
    expect(s.list({ id: 'ab' })).toHaveLength(2);
  });
});
