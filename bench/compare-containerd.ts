// containerd as the compare benchmark's peer: Debian's containerd started privately by
// peer-containerd.ts, with what its pods need here: an infra image in the local registry (Debian's
// static catatonit as /pause -P, what nexcage's built-in infra runs), and the same CNI network as
// nexcage's built-in default (bridge + host-local + portmap, plugins from Debian).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../src/lib/exec.js';
import { buildImage, layer, pushImage, type PushTarget } from '../test/support/image-builder.js';
import type { Runtime } from './compare.js';
import { PeerContainerd } from './peer-containerd.js';
import { pidsWhere } from './proc-mem.js';

async function pushPauseImage(target: PushTarget, host: string): Promise<string> {
  const base = await layer([{ path: 'pause', content: readFileSync('/usr/bin/catatonit'), mode: 0o755 }], 'gzip');
  await pushImage(target, 'bench/pause', ['latest'], buildImage({ layers: [base], config: { Entrypoint: ['/pause', '-P'] } }));
  return `${host}/bench/pause:latest`;
}

export async function startContainerdPeer(dir: string, tag: string, registry: { host: string; pushTarget: PushTarget }): Promise<Runtime> {
  const bridge = `nxd${tag}`;
  const peer = new PeerContainerd({
    dir,
    plainHttpRegistries: [registry.host],
    sandboxImage: await pushPauseImage(registry.pushTarget, registry.host),
    cniBinDir: '/usr/lib/cni',
    cniConfList: {
      cniVersion: '1.0.0',
      name: 'bench',
      plugins: [
        {
          type: 'bridge',
          bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.248.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    },
  });
  await peer.start();
  return {
    name: 'containerd',
    version: peer.version,
    socket: peer.socket,
    client: peer.client,
    daemonPid: () => peer.pid,
    helperPids: () => pidsWhere((cmd) => cmd.includes('containerd-shim') && cmd.includes(peer.socket)),
    stop: async () => {
      await peer.stop();
      await run('ip', ['link', 'del', bridge], { allowFailure: true });
    },
  };
}
