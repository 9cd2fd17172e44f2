import { describe, expect, it } from 'vitest';
import type { ContainerConfig } from './container-config.js';
import { restoredConfig } from './container-restore.js';

const original: ContainerConfig = {
  metadata: { name: 'counter', attempt: 2 },
  image: { image: 'registry.example/app:1' },
  command: ['/bin/sh', '-c', 'count'],
  envs: [{ key: 'A', value: '1' }],
  labels: { app: 'x', 'io.kubernetes.pod.name': 'old' },
  annotations: { keep: 'yes', 'io.kubernetes.container.hash': 'aaa' },
  mounts: [
    { containerPath: '/data', hostPath: '/old/pod/data' },
    { containerPath: '/cache', hostPath: '/old/pod/cache', readonly: true },
  ],
  logPath: 'counter_2.log',
  tty: true,
  linux: { securityContext: { runAsUser: 1000 }, resources: { memoryLimitInBytes: 100 } },
};

describe('the config of a restored container', () => {
  it('is the checkpointed one with what the new pod decides taken from the request', () => {
    const request: ContainerConfig = {
      metadata: { name: 'counter-restored', attempt: 0 },
      image: { image: '/var/lib/checkpoints/counter.tar' },
      command: ['ignored'],
      labels: { 'io.kubernetes.pod.name': 'new' },
      annotations: { 'io.kubernetes.container.hash': 'bbb' },
      mounts: [
        { containerPath: '/data', hostPath: '/new/pod/data' },
        { containerPath: '/extra', hostPath: '/new/pod/extra' },
      ],
      logPath: 'counter-restored_0.log',
      linux: { resources: { memoryLimitInBytes: 200 } },
    };
    const c = restoredConfig(original, request);
    expect(c.metadata).toEqual({ name: 'counter-restored', attempt: 0 });
    expect(c.image).toEqual({ image: 'registry.example/app:1' });
    expect(c.command).toEqual(['/bin/sh', '-c', 'count']);
    expect(c.tty).toBe(true);
    expect(c.labels).toEqual({ app: 'x', 'io.kubernetes.pod.name': 'new' });
    expect(c.annotations).toEqual({ keep: 'yes', 'io.kubernetes.container.hash': 'bbb' });
    // Re-bound by container path; a path the checkpoint did not have is left out (CRIU restores its own mount tree).
    expect(c.mounts).toEqual([
      { containerPath: '/data', hostPath: '/new/pod/data' },
      { containerPath: '/cache', hostPath: '/old/pod/cache', readonly: true },
    ]);
    expect(c.logPath).toBe('counter-restored_0.log');
    expect(c.linux).toEqual({ securityContext: { runAsUser: 1000 }, resources: { memoryLimitInBytes: 200 } });
  });

  it('keeps the checkpointed log path and linux settings when the request has none', () => {
    const c = restoredConfig(original, { metadata: { name: 'r', attempt: 0 }, image: { image: '/x.tar' } });
    expect(c.logPath).toBe('counter_2.log');
    expect(c.linux).toEqual(original.linux);
    expect(c.mounts).toEqual(original.mounts);
  });

  it('takes only what the request sets under linux: a security context alone keeps the checkpointed resources', () => {
    const c = restoredConfig(original, { metadata: { name: 'r', attempt: 0 }, image: { image: '/x.tar' }, linux: { securityContext: { runAsUser: 0 } }, logPath: '' });
    expect(c.linux).toEqual({ securityContext: { runAsUser: 0 }, resources: { memoryLimitInBytes: 100 } });
    expect(c.logPath).toBe('counter_2.log');
    const bare = restoredConfig({ metadata: { name: 'x', attempt: 0 }, image: { image: 'busybox' } }, { metadata: { name: 'r', attempt: 0 }, image: { image: '/x.tar' }, linux: {} });
    expect(bare.linux).toBeUndefined();
    expect(bare.mounts).toEqual([]);
    expect(bare.logPath).toBe('');
  });
});
