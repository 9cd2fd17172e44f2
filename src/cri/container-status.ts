import { InvalidArgumentError } from '../lib/errors.js';
import type { Container } from '../runtime/container/container-record.js';
import type { ContainerStatusRequest__Output } from './generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from './generated/runtime/v1/ContainerStatusResponse.js';
import { Encoded } from './grpc/encoded-list.js';
import { criMethod } from './grpc/proto.js';
import { containerStatusToProto } from './mapping/container-mapping.js';
import type { Services } from './services.js';

export function containerStatus(s: Services) {
  /** Still the record the store holds (not replaced or removed since). */
  const current = (c: Container): boolean => {
    try {
      return s.containers.get(c.id) === c;
    } catch {
      return false;
    }
  };
  const serialize = criMethod('runtime.v1.RuntimeService', 'ContainerStatus').responseSerialize;
  // The kubelet asks for every container's status on each sync: the answer without `verbose`
  // is kept in wire form per record (records are replaced on every change, never mutated).
  const encoded = new WeakMap<Container, Encoded>();
  const answer = (c: Container): Encoded => {
    let a = encoded.get(c);
    if (!a) {
      a = new Encoded(serialize({ status: containerStatusToProto(c), info: {} } satisfies ContainerStatusResponse));
      encoded.set(c, a);
    }
    return a;
  };
  // The kubelet asks for a container's status right after every start and exit it sees. The answer
  // is made as the change is published, before the call that made it (StartContainer, StopContainer)
  // is answered: the kubelet's next call then finds it ready and the event loop free, where made
  // after that answer it could meet the call halfway (tens of us warm, hundreds cold).
  s.containerEvents.observe((e) => {
    const c = e.containers[0];
    if ((e.type !== 'STARTED' && e.type !== 'STOPPED') || c?.id !== e.id) return;
    try {
      if (current(c)) answer(c);
    } catch {
      // Only a head start: the call itself makes the answer again and reports what failed.
    }
  });
  return async (req: ContainerStatusRequest__Output): Promise<ContainerStatusResponse | Encoded> => {
    if (req.container_id === '') throw new InvalidArgumentError('ContainerStatus: container_id is required');
    const c = s.containers.get(req.container_id);
    if (!req.verbose) return answer(c);
    // containerd's shape: one "info" key with JSON (pid, sandbox, runtime spec, ...).
    const info: Record<string, string> = {
      info: JSON.stringify({
        pid: c.status.pid,
        monitorPid: c.status.monitorPid,
        sandboxID: c.podSandboxId,
        runtimeHandler: c.runtimeHandler,
        bundle: c.bundle,
        rootfs: c.rootfs,
        upperDir: c.upperDir,
        cgroupsPath: c.cgroupsPath,
        config: c.config,
        runtimeSpec: await s.containers.spec(c.id),
      }),
    };
    return { status: containerStatusToProto(c), info };
  };
}
