// What the executor sends to plugins (env, CNI_ARGS, capability args, prevResult, order) can only
// be observed from inside a plugin, so a small recording plugin (a shell script speaking the CNI
// protocol) stands in for the real ones here; the real bridge/host-local/portmap run in the e2e tests.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../lib/log.js';
import { CniNetwork } from './cni-network.js';

let dir = '';

/** A plugin that appends {command, env, stdin} to <dir>/calls.jsonl and answers with a result. */
function recordingPlugin(name: string, ip: string, fail = false): void {
  const script = `#!/bin/sh
in=$(cat)
printf '{"plugin":"%s","command":"%s","args":"%s","ifname":"%s","netns":"%s","stdin":%s}\\n' "${name}" "$CNI_COMMAND" "$CNI_ARGS" "$CNI_IFNAME" "$CNI_NETNS" "$in" >> "${dir}/calls.jsonl"
${fail ? `if [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"1.0.0","code":11,"msg":"boom","details":"on purpose"}'; exit 1; fi` : ''}
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"'"$CNI_NETNS"'"}],"ips":[{"address":"${ip}/24","interface":0}]}'
fi
exit 0
`;
  writeFileSync(join(dir, 'bin', name), script);
  chmodSync(join(dir, 'bin', name), 0o755);
}

function calls(): { plugin: string; command: string; args: string; ifname: string; stdin: Record<string, unknown> }[] {
  return readFileSync(join(dir, 'calls.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { plugin: string; command: string; args: string; ifname: string; stdin: Record<string, unknown> });
}

function network(): CniNetwork {
  return new CniNetwork({
    confDirs: [join(dir, 'conf')],
    binDirs: [join(dir, 'bin')],
    cacheDir: join(dir, 'cache'),
    defaultNetwork: { bridge: 'unused0', subnet: '10.0.0.0/24', ipamDataDir: join(dir, 'ipam') },
    log: silentLogger(),
  });
}

const request = {
  podId: 'pod1',
  netnsPath: '/run/netns/pod1',
  podName: 'web',
  podNamespace: 'default',
  podUid: 'u-1',
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const, hostIP: '' }],
  dns: { servers: ['10.0.0.10'], searches: ['svc'], options: [] },
};

describe('CNI executor', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-cni-exec-'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'conf'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the chain with CNI_ARGS, capability args only where declared, prevResult; DEL in reverse from the cache', async () => {
    recordingPlugin('loopback', '127.0.0.1');
    recordingPlugin('first', '10.9.0.5');
    recordingPlugin('second', '10.9.0.5');
    writeFileSync(
      join(dir, 'conf', '10-test.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'first', capabilities: { dns: true } }, { type: 'second', capabilities: { portMappings: true } }] }),
    );
    const net = network();
    const st = await net.setUp(request);
    expect(st).toEqual({ ips: ['10.9.0.5'], network: 'test' });
    const adds = calls().filter((c) => c.command === 'ADD');
    expect(adds.map((c) => c.plugin).sort()).toEqual(['first', 'loopback', 'second']);
    const first = adds.find((c) => c.plugin === 'first')!;
    const second = adds.find((c) => c.plugin === 'second')!;
    expect(first.args).toBe('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=pod1;K8S_POD_UID=u-1');
    expect(first.ifname).toBe('eth0');
    expect(adds.find((c) => c.plugin === 'loopback')!.ifname).toBe('lo');
    expect(first.stdin.runtimeConfig).toEqual({ dns: request.dns });
    expect(first.stdin.prevResult).toBeUndefined();
    expect(second.stdin.runtimeConfig).toEqual({ portMappings: request.portMappings });
    expect((second.stdin.prevResult as { ips: unknown[] }).ips).toEqual([{ address: '10.9.0.5/24', interface: 0 }]);
    expect(await net.cachedPods()).toEqual(['pod1']);

    // The config changes on disk; DEL still runs exactly the chain ADD ran, last plugin first.
    writeFileSync(join(dir, 'conf', '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'loopback' }] }));
    await net.tearDown('pod1', '/run/netns/pod1');
    const dels = calls().filter((c) => c.command === 'DEL');
    expect(dels.map((c) => c.plugin)).toEqual(['second', 'first']);
    expect((dels[0]!.stdin.prevResult as { ips: unknown[] }).ips).toHaveLength(1);
    expect(await net.cachedPods()).toEqual([]);
    await net.tearDown('pod1', '/run/netns/pod1'); // idempotent: nothing cached, nothing run
    expect(calls().filter((c) => c.command === 'DEL')).toHaveLength(2);
  });

  it('passes only port mappings with a host port to plugins; none at all when every host_port is 0', async () => {
    recordingPlugin('loopback', '127.0.0.1');
    recordingPlugin('pm', '10.9.0.7');
    writeFileSync(join(dir, 'conf', '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'pm', capabilities: { portMappings: true } }] }));
    const net = network();
    const hostPort = { hostPort: 8443, containerPort: 443, protocol: 'tcp' as const, hostIP: '' };
    const containerOnly = [
      { hostPort: 0, containerPort: 80, protocol: 'tcp' as const, hostIP: '' },
      { hostPort: 0, containerPort: 53, protocol: 'udp' as const, hostIP: '' },
    ];
    await net.setUp({ ...request, podId: 'mixed', portMappings: [containerOnly[0]!, hostPort, containerOnly[1]!] });
    await net.setUp({ ...request, podId: 'only0', portMappings: containerOnly });
    const adds = calls().filter((c) => c.command === 'ADD' && c.plugin === 'pm');
    expect(adds[0]!.stdin.runtimeConfig).toEqual({ portMappings: [hostPort] });
    expect(adds[1]!.stdin.runtimeConfig).toBeUndefined();
    await net.tearDown('mixed', '/run/netns/pod1');
    await net.tearDown('only0', '/run/netns/pod1');
  });

  it('runs no loopback plugin when the netns pin brought lo up already', async () => {
    recordingPlugin('loopback', '127.0.0.1');
    recordingPlugin('first', '10.9.0.8');
    writeFileSync(join(dir, 'conf', '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'first' }] }));
    const net = network();
    expect(await net.setUp({ ...request, loopbackUp: true })).toEqual({ ips: ['10.9.0.8'], network: 'test' });
    expect(calls().map((c) => `${c.command} ${c.plugin}`)).toEqual(['ADD first']);
    await net.tearDown('pod1', '/run/netns/pod1');
  });

  it('runs the portmap of the built-in network only for a pod with host ports; DEL runs the chain ADD ran', async () => {
    recordingPlugin('loopback', '127.0.0.1');
    recordingPlugin('bridge', '10.0.0.2');
    recordingPlugin('portmap', '10.0.0.2');
    const net = network();
    await net.setUp({ ...request, podId: 'plain', portMappings: [{ hostPort: 0, containerPort: 80, protocol: 'tcp', hostIP: '' }] });
    await net.setUp({ ...request, podId: 'ported' });
    const adds = (pod: string): string[] => calls().filter((c) => c.command === 'ADD' && c.plugin !== 'loopback' && c.args.includes(`ID=${pod};`)).map((c) => c.plugin);
    expect(adds('plain')).toEqual(['bridge']);
    expect(adds('ported')).toEqual(['bridge', 'portmap']);
    await net.tearDown('plain', '/run/netns/pod1');
    await net.tearDown('ported', '/run/netns/pod1');
    const dels = (pod: string): string[] => calls().filter((c) => c.command === 'DEL' && c.args.includes(`ID=${pod};`)).map((c) => c.plugin);
    expect(dels('plain')).toEqual(['bridge']);
    expect(dels('ported')).toEqual(['portmap', 'bridge']);
  });

  it('on a failing plugin: reports its CNI error, runs DEL for the chain and keeps no cache', async () => {
    recordingPlugin('loopback', '127.0.0.1');
    recordingPlugin('first', '10.9.0.6');
    recordingPlugin('bad', '0.0.0.0', true);
    writeFileSync(join(dir, 'conf', '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'first' }, { type: 'bad' }] }));
    const net = network();
    await expect(net.setUp(request)).rejects.toThrow(/plugin "bad".*boom \(on purpose\) \[code 11\]/);
    expect(calls().filter((c) => c.command === 'DEL').map((c) => c.plugin)).toEqual(['bad', 'first']);
    expect(await net.cachedPods()).toEqual([]);
  });
});
