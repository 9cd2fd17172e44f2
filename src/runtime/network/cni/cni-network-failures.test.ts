// The CNI executor's failure paths and less common requests, against small shell plugins that
// speak the CNI protocol (each records its call, then answers as the test scripts it): what the
// caller is told (message, code), which plugins ran, and what is left in the result cache.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../../lib/log.js';
import { CniNetwork } from './cni-network.js';

let dir = '';

interface Call {
  plugin: string;
  command: string;
  netns: string;
  stdin: Record<string, unknown>;
}

/** A plugin that appends {plugin, command, netns, stdin} to calls.jsonl, then runs `body` (sh). */
function plugin(name: string, body: string): void {
  const script = `#!/bin/sh
in=$(cat)
printf '{"plugin":"%s","command":"%s","netns":"%s","stdin":%s}\\n' "${name}" "$CNI_COMMAND" "$CNI_NETNS" "$in" >> "${dir}/calls.jsonl"
${body}
exit 0
`;
  writeFileSync(join(dir, 'bin', name), script);
  chmodSync(join(dir, 'bin', name), 0o755);
}

/** Answers ADD with a result holding `addresses` on a sandbox eth0. */
function addResult(addresses: string[]): string {
  const ips = addresses.map((a) => `{"address":"${a}","interface":0}`).join(',');
  return `if [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"'"$CNI_NETNS"'"}],"ips":[${ips}]}'; fi`;
}

/** Answers ADD with the prevResult it was given, as chained plugins (portmap, tuning) do. */
const PASS_THROUGH = `if [ "$CNI_COMMAND" = ADD ]; then echo "$in" | sed -e 's/.*"prevResult"://' -e 's/}$//'; fi`;

function calls(): Call[] {
  if (!existsSync(join(dir, 'calls.jsonl'))) return [];
  return readFileSync(join(dir, 'calls.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Call);
}

const ran = (command: string): string[] =>
  calls()
    .filter((c) => c.command === command && c.plugin !== 'loopback')
    .map((c) => c.plugin);

function conflist(conf: Record<string, unknown>): void {
  writeFileSync(join(dir, 'conf', '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'test', ...conf }));
}

function network(extra: { log?: Logger; timeoutMs?: number } = {}): CniNetwork {
  return new CniNetwork({ confDirs: [join(dir, 'conf')], binDirs: [join(dir, 'bin')], cacheDir: join(dir, 'cache'), log: extra.log ?? silentLogger(), timeoutMs: extra.timeoutMs });
}

const cacheFile = (podId: string): string => join(dir, 'cache', `${podId}.json`);

const request = {
  podId: 'pod1',
  netnsPath: '/run/netns/pod1',
  podName: 'web',
  podNamespace: 'default',
  podUid: 'u-1',
  portMappings: [],
};

describe('CNI executor: requests', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-cni-fail-'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'conf'));
    plugin('loopback', addResult(['127.0.0.1/8']));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('an IPv6-only range gives the pod its IPv6 address; a dual-stack result lists IPv4 first', async () => {
    plugin('v6', addResult(['fd00:10::5/64']));
    conflist({ plugins: [{ type: 'v6', ipam: { type: 'host-local', ranges: [[{ subnet: 'fd00:10::/64' }]] } }] });
    const net = network();
    expect(await net.setUp(request)).toEqual({ ips: ['fd00:10::5'], network: 'test' });

    plugin('dual', addResult(['fd00:10::6/64', '10.1.0.6/24']));
    conflist({ plugins: [{ type: 'dual' }] });
    expect(await net.setUp({ ...request, podId: 'pod2' })).toEqual({ ips: ['10.1.0.6', 'fd00:10::6'], network: 'test' });
    expect((await net.cachedPods()).sort()).toEqual(['pod1', 'pod2']);
  });

  it('sends dns only when it has content and only to plugins declaring it; requested ips to the ips capability', async () => {
    plugin('dnsp', addResult(['10.1.0.7/24']));
    plugin('other', PASS_THROUGH);
    conflist({ plugins: [{ type: 'dnsp', capabilities: { dns: true, ips: true, portMappings: false } }, { type: 'other' }] });
    const net = network();
    await net.setUp({ ...request, podId: 'empty-dns', dns: { servers: [], searches: [], options: [] } });
    await net.setUp({ ...request, podId: 'opts-only', dns: { servers: [], searches: [], options: ['ndots:5'] }, ips: ['10.1.0.7'] });
    const adds = calls().filter((c) => c.command === 'ADD' && c.plugin === 'dnsp');
    expect(adds[0]!.stdin.runtimeConfig).toBeUndefined();
    expect(adds[1]!.stdin.runtimeConfig).toEqual({ dns: { servers: [], searches: [], options: ['ndots:5'] }, ips: ['10.1.0.7'] });
    // A plugin without capabilities never sees runtimeConfig, whatever the pod asked.
    expect(calls().filter((c) => c.plugin === 'other').every((c) => c.stdin.runtimeConfig === undefined)).toBe(true);
    // The plugin gets the list's name and version, not its own.
    expect(adds[1]!.stdin).toMatchObject({ name: 'test', cniVersion: '1.0.0', type: 'dnsp' });
  });

  it('CHECK runs the cached chain with the cached result and the current netns path', async () => {
    plugin('a', addResult(['10.1.0.8/24']));
    plugin('b', PASS_THROUGH);
    conflist({ plugins: [{ type: 'a' }, { type: 'b' }] });
    const net = network();
    await net.setUp(request);
    await net.check('pod1', '/run/netns/moved');
    const checks = calls().filter((c) => c.command === 'CHECK');
    expect(checks.map((c) => c.plugin)).toEqual(['a', 'b']);
    expect(checks.every((c) => c.netns === '/run/netns/moved')).toBe(true);
    expect((checks[0]!.stdin.prevResult as { ips: unknown[] }).ips).toEqual([{ address: '10.1.0.8/24', interface: 0 }]);
  });

  it('CHECK is skipped for configs before CNI 0.4.0 and with disableCheck', async () => {
    plugin('a', addResult(['10.1.0.9/24']));
    writeFileSync(join(dir, 'conf', '10-test.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'old', type: 'a' }));
    const net = network();
    await net.setUp(request);
    await net.check('pod1', request.netnsPath);
    rmSync(join(dir, 'conf', '10-test.conf'));
    conflist({ disableCheck: true, plugins: [{ type: 'a' }] });
    await net.setUp({ ...request, podId: 'pod2' });
    await net.check('pod2', request.netnsPath);
    expect(ran('CHECK')).toEqual([]);
    // 0.4.0 itself is checked (versions compare numerically, part by part).
    conflist({ cniVersion: '0.4.0', plugins: [{ type: 'a' }] });
    await net.setUp({ ...request, podId: 'pod3' });
    await net.check('pod3', request.netnsPath);
    expect(ran('CHECK')).toEqual(['a']);
  });
});

describe('CNI executor: failures', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-cni-fail-'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'conf'));
    plugin('loopback', addResult(['127.0.0.1/8']));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('CHECK without a cached result (never set up, or torn down) is INTERNAL naming the pod; nothing runs', async () => {
    plugin('a', addResult(['10.1.0.10/24']));
    conflist({ plugins: [{ type: 'a' }] });
    const net = network();
    await expect(net.check('ghost', request.netnsPath)).rejects.toMatchObject({ code: 'INTERNAL', message: 'pod "ghost" has no cached network result to check' });
    await net.setUp(request);
    await net.tearDown('pod1', request.netnsPath);
    await expect(net.check('pod1', request.netnsPath)).rejects.toThrow(/pod "pod1" has no cached network result/);
    // A cache written before ADD finished (crash in the middle) has no result either.
    mkdirSync(join(dir, 'cache'), { recursive: true });
    writeFileSync(cacheFile('half'), JSON.stringify({ podId: 'half', netnsPath: 'x', ifName: 'eth0', cniArgs: '', config: { cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'a' }] }, runtimeConfig: {} }));
    await expect(net.check('half', request.netnsPath)).rejects.toThrow(/pod "half" has no cached network result/);
    expect(ran('CHECK')).toEqual([]);
  });

  it('a failing CHECK names the plugin and its CNI error and stops the chain; the cache stays', async () => {
    plugin('a', `${addResult(['10.1.0.11/24'])}\nif [ "$CNI_COMMAND" = CHECK ]; then echo '{"code":7,"msg":"veth gone"}'; exit 1; fi`);
    plugin('b', PASS_THROUGH);
    conflist({ plugins: [{ type: 'a' }, { type: 'b' }] });
    const net = network();
    await net.setUp(request);
    await expect(net.check('pod1', request.netnsPath)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'CNI CHECK of plugin "a" (network "test") for pod "pod1" failed: veth gone [code 7]',
    });
    expect(ran('CHECK')).toEqual(['a']);
    expect(await net.cachedPods()).toEqual(['pod1']);
  });

  it('a plugin missing from the bin dirs is INVALID_ARGUMENT naming it and the dirs; ADD leaves no cache', async () => {
    conflist({ plugins: [{ type: 'nosuch' }] });
    const lines: { msg: string; podId: string }[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; podId: string }) });
    const net = network({ log });
    await expect(net.setUp(request)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `CNI plugin "nosuch" of network "test" not found in ${join(dir, 'bin')}`,
    });
    expect(await net.cachedPods()).toEqual([]);
    // The undo DEL fails the same way: logged, the ADD error is what the caller sees.
    expect(lines).toEqual([expect.objectContaining({ msg: 'CNI DEL after failed ADD failed', podId: 'pod1' })]);
  });

  it('a failing eth0 chain waits for lo\'s ADD before undoing: no plugin still runs once setUp has failed', async () => {
    plugin('loopback', `sleep 0.3; ${addResult(['127.0.0.1/8'])}; touch "${dir}/lo-done"`);
    conflist({ plugins: [{ type: 'nosuch' }] });
    await expect(network().setUp(request)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(join(dir, 'lo-done'))).toBe(true);
    // And a loopback that fails fails the pod network, undone like any other failure.
    plugin('loopback', `if [ "$CNI_COMMAND" = ADD ]; then echo '{"code":5,"msg":"lo is gone"}'; exit 1; fi`);
    plugin('a', addResult(['10.1.0.14/24']));
    conflist({ plugins: [{ type: 'a' }] });
    await expect(network().setUp(request)).rejects.toThrow('CNI ADD of plugin "loopback" (network "cni-loopback") for pod "pod1" failed: lo is gone [code 5]');
    expect(ran('DEL')).toEqual(['a']);
    expect(await network().cachedPods()).toEqual([]);
  });

  it('a plugin failing without a CNI error object is reported by its stderr, else by its exit code or signal', async () => {
    plugin('noisy', 'if [ "$CNI_COMMAND" = ADD ]; then echo "cannot create bridge: permission denied" >&2; exit 2; fi');
    conflist({ plugins: [{ type: 'noisy' }] });
    const net = network();
    await expect(net.setUp(request)).rejects.toThrow('CNI ADD of plugin "noisy" (network "test") for pod "pod1" failed: cannot create bridge: permission denied');
    plugin('mute', 'if [ "$CNI_COMMAND" = ADD ]; then exit 3; fi');
    conflist({ plugins: [{ type: 'mute' }] });
    await expect(net.setUp(request)).rejects.toThrow('CNI ADD of plugin "mute" (network "test") for pod "pod1" failed: exit code 3');
    plugin('killed', 'if [ "$CNI_COMMAND" = ADD ]; then kill -9 $$; fi');
    conflist({ plugins: [{ type: 'killed' }] });
    await expect(net.setUp(request)).rejects.toThrow('CNI ADD of plugin "killed" (network "test") for pod "pod1" failed: killed by SIGKILL');
    plugin('terse', `if [ "$CNI_COMMAND" = ADD ]; then echo '{"code":4,"msg":"bad config"}'; exit 1; fi`);
    conflist({ plugins: [{ type: 'terse' }] });
    await expect(net.setUp(request)).rejects.toThrow(/failed: bad config \[code 4\]$/);
    expect(await net.cachedPods()).toEqual([]);
  });

  it('a plugin that hangs is killed at the timeout and named; the chain is undone', async () => {
    plugin('slow', 'if [ "$CNI_COMMAND" = ADD ]; then exec sleep 30; fi');
    conflist({ plugins: [{ type: 'slow' }] });
    const net = network({ timeoutMs: 300 });
    const started = Date.now();
    await expect(net.setUp(request)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/^CNI ADD of plugin "slow" \(network "test"\) for pod "pod1" failed: .*timed out after 300 ms/),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(ran('DEL')).toEqual(['slow']);
    expect(await net.cachedPods()).toEqual([]);
  });

  it.each([
    ['not JSON', 'echo "IP: 10.1.0.12"', /printed a result that is not JSON/],
    ['a JSON array', 'echo "[1,2]"', /printed a result that is not a JSON object/],
    ['ips that are not addresses', `echo '{"cniVersion":"1.0.0","ips":["10.1.0.12/24"]}'`, /printed a result whose "ips" is not a list of addresses/],
    ['ips that is not a list', `echo '{"cniVersion":"1.0.0","ips":{"address":"10.1.0.12/24"}}'`, /printed a result whose "ips" is not a list of addresses/],
    ['interfaces that is not a list', `echo '{"cniVersion":"1.0.0","interfaces":"eth0","ips":[]}'`, /printed a result whose "interfaces" is not a list/],
  ])('a malformed ADD result (%s) is INTERNAL naming the plugin; the chain is undone, no cache kept', async (_what, answer, message) => {
    plugin('odd', `if [ "$CNI_COMMAND" = ADD ]; then ${answer}; fi`);
    conflist({ plugins: [{ type: 'odd' }] });
    const net = network();
    await expect(net.setUp(request)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(message) });
    await expect(net.setUp(request)).rejects.toThrow(/^CNI ADD of plugin "odd" \(network "test"\) for pod "pod1" printed/);
    expect(ran('DEL')).toEqual(['odd', 'odd']);
    expect(await net.cachedPods()).toEqual([]);
  });

  it('a chain whose last plugin prints nothing has no result: INTERNAL, undone', async () => {
    plugin('quiet', '');
    conflist({ plugins: [{ type: 'quiet' }] });
    const net = network();
    await expect(net.setUp(request)).rejects.toMatchObject({ code: 'INTERNAL', message: 'CNI network "test" returned no result for pod "pod1"' });
    expect(ran('DEL')).toEqual(['quiet']);
    expect(await net.cachedPods()).toEqual([]);
  });

  it('DEL goes on past a failing plugin, then fails naming every failure and keeps the cache for the retry', async () => {
    let failDel = true;
    const flaky = (): string => (failDel ? `if [ "$CNI_COMMAND" = DEL ]; then echo '{"code":11,"msg":"iptables locked"}'; exit 1; fi` : '');
    plugin('a', addResult(['10.1.0.13/24']));
    plugin('b', `${PASS_THROUGH}\n${flaky()}`);
    plugin('c', `${PASS_THROUGH}\nif [ "$CNI_COMMAND" = DEL ]; then echo "no such veth" >&2; exit 1; fi`);
    conflist({ plugins: [{ type: 'a' }, { type: 'b' }, { type: 'c' }] });
    const net = network();
    await net.setUp(request);
    await expect(net.tearDown('pod1', request.netnsPath)).rejects.toMatchObject({
      code: 'INTERNAL',
      message:
        'CNI DEL of network "test" for pod "pod1": CNI DEL of plugin "c" (network "test") for pod "pod1" failed: no such veth; ' +
        'CNI DEL of plugin "b" (network "test") for pod "pod1" failed: iptables locked [code 11]',
    });
    expect(ran('DEL')).toEqual(['c', 'b', 'a']);
    expect(existsSync(cacheFile('pod1'))).toBe(true);

    // The plugins recover: the retry runs the whole cached chain again and forgets the pod.
    failDel = false;
    plugin('b', `if [ "$CNI_COMMAND" = ADD ]; then echo "$in"; fi\n${flaky()}`);
    plugin('c', '');
    await net.tearDown('pod1', request.netnsPath);
    expect(ran('DEL')).toEqual(['c', 'b', 'a', 'c', 'b', 'a']);
    expect(existsSync(cacheFile('pod1'))).toBe(false);
  });

  it('lists only cached pods: no cache dir is no pods; temp files of an interrupted write are not pods', async () => {
    const net = network();
    expect(await net.cachedPods()).toEqual([]);
    mkdirSync(join(dir, 'cache'));
    writeFileSync(join(dir, 'cache', '.pod9.json.abc.tmp'), '{');
    writeFileSync(join(dir, 'cache', 'pod9.json'), '{}');
    writeFileSync(join(dir, 'cache', 'README'), '');
    expect(await net.cachedPods()).toEqual(['pod9']);
  });
});
