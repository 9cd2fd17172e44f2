// containerd as the compare benchmark's peer: started privately by peer-containerd.ts.
import type { Runtime } from './compare.js';

export function startContainerdPeer(_dir: string, _tag: string, _registryHost: string): Promise<Runtime> {
  return Promise.reject(new Error('bench/peer-containerd.ts is not there yet: run with NEXCAGE_COMPARE_PEER=none'));
}
