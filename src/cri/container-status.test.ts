import { describe, expect, it, vi } from 'vitest';
import { ContainerEventBus } from '../runtime/container/container-events.js';
import type { Container, ContainerEvent } from '../runtime/container/container-record.js';
import type { ContainerStatusResponse__Output } from './generated/runtime/v1/ContainerStatusResponse.js';
import { containerStatus } from './container-status.js';
import { Encoded } from './grpc/encoded-list.js';
import { loadCri } from './grpc/proto.js';
import { containerStatusToProto } from './mapping/container-mapping.js';
import type { Services } from './services.js';

// Counts how often an answer is built, to tell a prepared answer from one made on the call.
vi.mock('./mapping/container-mapping.js', async (original) => {
  const real = await original<typeof import('./mapping/container-mapping.js')>();
  return { ...real, containerStatusToProto: vi.fn(real.containerStatusToProto) };
});

const method = loadCri().runtime.v1.RuntimeService.service.ContainerStatus;

function record(status: Container['status']): Container {
  return {
    id: 'c'.repeat(64),
    podSandboxId: 'p'.repeat(64),
    config: { metadata: { name: 'web', attempt: 2 }, image: { image: 'busybox' }, labels: { app: 'web' }, annotations: { a: 'b' } },
    image: { requested: 'busybox', id: 'sha256:' + 'b'.repeat(64), ref: 'docker.io/library/busybox@sha256:' + 'd'.repeat(64) },
    runtimeHandler: 'runc',
    createdAtNs: '1700000000000000000',
    bundle: '/run/nexcage/c',
    rootfs: '/run/nexcage/c/rootfs',
    upperDir: '/var/lib/nexcage/c/upper',
    workDir: '/var/lib/nexcage/c/work',
    logPath: '/var/log/pods/p/web/2.log',
    cgroupsPath: 'kubepods:nexcage:c',
    user: { uid: 0, gid: 0, additionalGids: [] },
    stopSignal: 'SIGTERM',
    mounts: [],
    status,
  } as Container;
}

describe('ContainerStatus', () => {
  it('answers from wire bytes kept per record, and a changed record (exit recorded) gets a new answer', async () => {
    let current = record({ state: 'RUNNING', pid: 42, monitorPid: 41, startedAtNs: '1700000001000000000' });
    const s = { containers: { get: () => current, spec: async () => ({ ociVersion: '1.0.2' }) }, containerEvents: new ContainerEventBus() } as unknown as Services;
    const handler = containerStatus(s);
    const decode = (a: unknown): ContainerStatusResponse__Output => method.responseDeserialize((a as Encoded).bytes);

    const first = await handler({ container_id: 'ccc', verbose: false });
    expect(first).toBeInstanceOf(Encoded);
    expect(await handler({ container_id: 'ccc', verbose: false })).toBe(first);
    expect(decode(first).status).toMatchObject({ state: 'CONTAINER_RUNNING', started_at: '1700000001000000000', log_path: '/var/log/pods/p/web/2.log', labels: { app: 'web' } });
    expect(decode(first).info).toEqual({});

    current = { ...current, status: { state: 'EXITED', pid: 0, monitorPid: 0, exitCode: 3, finishedAtNs: '1700000002000000000', reason: 'Error' } };
    const exited = decode(await handler({ container_id: 'ccc', verbose: false }));
    expect(exited.status).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 3, reason: 'Error', finished_at: '1700000002000000000', log_path: '/var/log/pods/p/web/2.log' });
  });

  it('builds the verbose answer each time, with the runtime spec', async () => {
    const c = record({ state: 'RUNNING', pid: 42, monitorPid: 41 });
    const s = { containers: { get: () => c, spec: async () => ({ ociVersion: '1.0.2' }) }, containerEvents: new ContainerEventBus() } as unknown as Services;
    const res = (await containerStatus(s)({ container_id: 'ccc', verbose: true })) as { info: Record<string, string> };
    expect(JSON.parse(res.info.info as string)).toMatchObject({ pid: 42, monitorPid: 41, runtimeSpec: { ociVersion: '1.0.2' } });
  });

  it('refuses an empty id', async () => {
    const s = { containers: { get: () => undefined }, containerEvents: new ContainerEventBus() } as unknown as Services;
    await expect(containerStatus(s)({ container_id: '', verbose: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('prepares the answer as a start or an exit is published, for the record the store still holds', async () => {
    const built = vi.mocked(containerStatusToProto);
    let current = record({ state: 'CREATED', pid: 42, monitorPid: 41 });
    const events = new ContainerEventBus();
    const s = {
      containers: {
        get: (id: string) => {
          if (id !== current.id) throw new Error('not found');
          return current;
        },
      },
      containerEvents: events,
    } as unknown as Services;
    const handler = containerStatus(s);
    const publish = (type: ContainerEvent['type'], c: Container, id = c.id): void => {
      events.publish({ id, type, podSandboxId: c.podSandboxId, createdAtNs: '1', containers: [c] });
    };

    built.mockClear();
    publish('CREATED', current);
    publish('STARTED', current, current.podSandboxId); // a pod's event: its id is the pod's
    expect(built).not.toHaveBeenCalled();

    current = { ...current, status: { state: 'RUNNING', pid: 42, monitorPid: 41, startedAtNs: '1700000001000000000' } };
    publish('STARTED', current);
    expect(built).toHaveBeenCalledTimes(1);
    const answer = await handler({ container_id: current.id, verbose: false });
    expect(built).toHaveBeenCalledTimes(1);
    expect(method.responseDeserialize((answer as Encoded).bytes).status).toMatchObject({ state: 'CONTAINER_RUNNING' });

    // An event for a record already replaced (an exit right after the start): nothing is made for it.
    const started = current;
    current = { ...current, status: { state: 'EXITED', pid: 0, monitorPid: 0, exitCode: 0, finishedAtNs: '1700000002000000000', reason: 'Completed' } };
    publish('STARTED', started);
    expect(built).toHaveBeenCalledTimes(1);
    publish('STOPPED', current);
    expect(built).toHaveBeenCalledTimes(2);
    expect(method.responseDeserialize(((await handler({ container_id: current.id, verbose: false })) as Encoded).bytes).status).toMatchObject({ state: 'CONTAINER_EXITED' });
    expect(built).toHaveBeenCalledTimes(2);
  });
});
