import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { IdMappings, UserNamespaceOption } from '../container/container-config.js';
import { checkContainerUserns, hostRangesOverlap, hostRoot, podUserns, toHostId, validatePodUserns } from './userns.js';

const range = (containerId: number, hostId: number, length: number) => ({ containerId, hostId, length });
const pod = (hostId: number, length = 65536): UserNamespaceOption => ({ mode: 'POD', uids: [range(0, hostId, length)], gids: [range(0, hostId, length)] });

function refusal(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('validatePodUserns', () => {
  it('accepts no options, NODE without mappings, and POD with one mapping of container id 0', () => {
    expect(() => validatePodUserns(undefined)).not.toThrow();
    expect(() => validatePodUserns({ mode: 'NODE', uids: [], gids: [] })).not.toThrow();
    expect(() => validatePodUserns(pod(65536))).not.toThrow();
  });

  it('refuses what critest and the kubelet never send as valid, naming the field', () => {
    expect(refusal(() => validatePodUserns({ mode: 'CONTAINER', uids: [], gids: [] }))).toBe(
      'namespace_options.userns_options.mode CONTAINER is not supported: a user namespace is the pod\'s own (POD) or the host\'s (NODE)',
    );
    expect(refusal(() => validatePodUserns({ mode: 'TARGET', uids: [], gids: [] }))).toMatch(/^namespace_options\.userns_options\.mode TARGET/);
    expect(refusal(() => validatePodUserns({ mode: 'POD', uids: [range(0, 1000, 100000), range(0, 2000, 100000)], gids: [range(0, 1000, 100000)] }))).toBe(
      'namespace_options.userns_options.uids: exactly one mapping is supported, got 2',
    );
    expect(refusal(() => validatePodUserns({ mode: 'POD', uids: [range(0, 1000, 10)], gids: [] }))).toBe('namespace_options.userns_options.gids: exactly one mapping is supported, got 0');
    expect(refusal(() => validatePodUserns({ mode: 'POD', uids: [range(1, 1000, 100000)], gids: [range(1, 1000, 100000)] }))).toBe(
      'namespace_options.userns_options.uids[0]: container id 0 must be mapped (the mapping starts at container_id 1)',
    );
    expect(refusal(() => validatePodUserns({ mode: 'NODE', uids: [range(0, 1000, 1)], gids: [] }))).toMatch(/mode NODE .* takes no mappings, got 1 uid and 0 gid/);
    expect(refusal(() => validatePodUserns(pod(1000, 0)))).toBe('namespace_options.userns_options.uids[0].length must be at least 1');
    expect(refusal(() => validatePodUserns(pod(0)))).toMatch(/must not include host id 0/);
    expect(refusal(() => validatePodUserns(pod(0xffff0000, 0x20000)))).toMatch(/go past the largest id/);
  });
});

describe('mappings', () => {
  it('maps container ids to host ids inside a range only', () => {
    const m = [range(0, 100000, 65536)];
    expect(toHostId(m, 0)).toBe(100000);
    expect(toHostId(m, 1000)).toBe(101000);
    expect(toHostId(m, 65536)).toBeUndefined();
    expect(hostRoot({ uids: m, gids: [range(0, 200000, 10)] })).toEqual({ uid: 100000, gid: 200000 });
  });

  it('finds overlapping host ranges in uids or gids, and none between neighbours', () => {
    const a: IdMappings = { uids: [range(0, 100000, 65536)], gids: [range(0, 100000, 65536)] };
    const next: IdMappings = { uids: [range(0, 165536, 65536)], gids: [range(0, 165536, 65536)] };
    expect(hostRangesOverlap(a, next)).toBe(false);
    expect(hostRangesOverlap(a, { ...next, gids: [range(0, 165535, 10)] })).toBe(true);
    expect(hostRangesOverlap(a, { uids: [range(0, 99999, 2)], gids: [] })).toBe(true);
  });

  it('reads a pod\'s own namespace from POD only', () => {
    expect(podUserns({ userns: pod(1000) })).toEqual({ uids: [range(0, 1000, 65536)], gids: [range(0, 1000, 65536)] });
    expect(podUserns({ userns: { mode: 'NODE', uids: [], gids: [] } })).toBeUndefined();
    expect(podUserns({})).toBeUndefined();
  });
});

describe('checkContainerUserns', () => {
  const podMappings = podUserns({ userns: pod(1000) });

  it('lets a container follow its pod, or repeat the pod\'s own options', () => {
    expect(() => checkContainerUserns(undefined, podMappings, 'container "c"')).not.toThrow();
    expect(() => checkContainerUserns(pod(1000), podMappings, 'container "c"')).not.toThrow();
    expect(() => checkContainerUserns({ mode: 'NODE', uids: [], gids: [] }, undefined, 'container "c"')).not.toThrow();
  });

  it('refuses a container that would leave its pod\'s user namespace or bring other mappings', () => {
    expect(refusal(() => checkContainerUserns({ mode: 'NODE', uids: [], gids: [] }, podMappings, 'container "c"'))).toMatch(/^container "c": namespace_options.userns_options: mode NODE, but the pod sandbox has its own/);
    expect(refusal(() => checkContainerUserns(pod(1000), undefined, 'container "c"'))).toMatch(/mode POD, but the pod sandbox runs in the host's user namespace/);
    expect(refusal(() => checkContainerUserns(pod(2000), podMappings, 'container "c"'))).toMatch(/mappings \(uids 0:2000:65536, gids 0:2000:65536\) differ from the pod sandbox's \(uids 0:1000:65536/);
    expect(refusal(() => checkContainerUserns({ mode: 'CONTAINER', uids: [], gids: [] }, podMappings, 'container "c"'))).toMatch(/mode CONTAINER is not supported/);
  });
});
