// CRI Status as the kubelet and critest read it: the node features the runtime claims, and the
// verbose info (hugetlb availability) - through a real RuntimeInfo over the node's runc.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { RuntimeHandlers } from '../runtime/engine/runtime-handlers.js';
import { RuntimeInfo } from '../runtime/engine/runtime-info.js';
import type { StatusResponse__Output } from './generated/runtime/v1/StatusResponse.js';
import { Encoded } from './grpc/encoded-list.js';
import { loadCri } from './grpc/proto.js';
import { status } from './runtime-status.js';
import type { Services } from './services.js';

async function statusWith(hugetlb: boolean) {
  const handlers = await RuntimeHandlers.resolve([{ name: 'runc', path: 'runc', root: '/run/nexcage-status-test', systemdCgroup: false }], 'runc', '6.1.0', silentLogger());
  const runtimeInfo = new RuntimeInfo({ handlers, cgroupDriver: 'cgroupfs', cniConfDirs: [], cniBinDirs: [], effectiveConfig: {}, hugetlb: async () => hugetlb });
  const handler = status({ runtimeInfo } as unknown as Services);
  // The non-verbose answer comes in wire form: decoded here as the kubelet would.
  return async (req: { verbose: boolean }): Promise<StatusResponse__Output> => {
    const res = await handler(req);
    return res instanceof Encoded ? loadCri().runtime.v1.RuntimeService.service.Status.responseDeserialize(res.bytes) : (res as StatusResponse__Output);
  };
}

describe('Status', () => {
  it('claims SupplementalGroupsPolicy (critest runs its Merge/Strict specs only then)', async () => {
    const st = await (await statusWith(true))({ verbose: false });
    expect(st.features).toMatchObject({ supplemental_groups_policy: true });
    expect(st.info).toEqual({});
    expect(st.status?.conditions.map((c) => [c.type, c.status])).toEqual([
      ['RuntimeReady', true],
      ['NetworkReady', false],
    ]);
  });

  it('answers a repeated non-verbose Status with the same bytes while nothing changed', async () => {
    const handlers = await RuntimeHandlers.resolve([{ name: 'runc', path: 'runc', root: '/run/nexcage-status-test', systemdCgroup: false }], 'runc', '6.1.0', silentLogger());
    const runtimeInfo = new RuntimeInfo({ handlers, cgroupDriver: 'cgroupfs', cniConfDirs: [], cniBinDirs: [], effectiveConfig: {}, hugetlb: async () => true });
    const handler = status({ runtimeInfo } as unknown as Services);
    const first = await handler({ verbose: false });
    expect(first).toBeInstanceOf(Encoded);
    expect(await handler({ verbose: false })).toBe(first);
    expect(await handler({ verbose: true })).not.toBeInstanceOf(Encoded);
  });

  it('verbose info says whether hugepage limits are applied', async () => {
    const without = JSON.parse((await (await statusWith(false))({ verbose: true })).info?.hugetlb ?? '{}') as Record<string, unknown>;
    expect(without).toMatchObject({ controller: false, hugepageLimits: 'dropped' });
    expect(without.message).toMatch(/no hugetlb cgroup controller/);
    const withIt = JSON.parse((await (await statusWith(true))({ verbose: true })).info?.hugetlb ?? '{}') as Record<string, unknown>;
    expect(withIt).toEqual({ controller: true, hugepageLimits: 'applied' });
  });
});
