// Exec / Attach / PortForward through the daemon for real containers and pods: the CRI call hands
// out a URL on the daemon's streaming server, the test's SPDY/3.1 client (speaking like the
// kubelet's spdystream) drives it. Real runc, conmon, overlayfs, CNI, local registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { ctrConfig, failure, runCtr, type ContainerImages, startPodFixture, stopPodFixture } from '../support/containers.js';
import { TestRegistry } from '../support/registry.js';
import { type ClientStream, SpdyClient } from '../support/spdy-client.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId: string;

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'strm'));
}, 120_000);

afterAll(async () => {
  await stopPodFixture({ d, registry, podId }, 60_000);
});

/** An attach session as the kubelet opens it: error, stdin, stdout and stderr streams. */
async function attachStreams(url: string): Promise<{ c: SpdyClient; stdin: ClientStream; stdout: ClientStream }> {
  const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
  await c.createStream({ streamType: 'error' });
  const stdin = await c.createStream({ streamType: 'stdin' });
  const stdout = await c.createStream({ streamType: 'stdout' });
  await c.createStream({ streamType: 'stderr' });
  return { c, stdin, stdout };
}

describe('streaming into real containers', () => {
  it('Exec runs the command in the container with stdin, stdout, stderr and the exit status', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '1000']));
    const { url } = await call(d.client.runtime, 'Exec', { container_id: id, cmd: ['/bin/sh', '-c', 'cat; echo err >&2; hostname; exit 3'], stdin: true, stdout: true, stderr: true, tty: false });
    const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
    const error = await c.createStream({ streamType: 'error' });
    const stdin = await c.createStream({ streamType: 'stdin' });
    const stdout = await c.createStream({ streamType: 'stdout' });
    const stderr = await c.createStream({ streamType: 'stderr' });
    await stdin.write('from stdin\n');
    await stdin.end();
    const [out, err, status] = await Promise.all([stdout.all(), stderr.all(), error.all()]);
    c.close();
    expect(out.toString()).toBe(`from stdin\n${pod.hostname}\n`);
    expect(err.toString()).toBe('err\n');
    expect(JSON.parse(status.toString())).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  it('Exec/Attach refuse a container that is not running', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['true']));
    await call(d.client.runtime, 'StopContainer', { container_id: id, timeout: 0 });
    expect((await failure(call(d.client.runtime, 'Exec', { container_id: id, cmd: ['true'], stdout: true }))).code).toBe(9);
    expect((await failure(call(d.client.runtime, 'Attach', { container_id: id, stdout: true }))).code).toBe(9);
  });

  it('Attach connects to the main process: stdin in, stdout out', async () => {
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'while read l; do echo "got $l"; done'], { stdin: true, stdin_once: false }));
    const { url } = await call(d.client.runtime, 'Attach', { container_id: id, stdin: true, stdout: true, stderr: true, tty: false });
    const { c, stdin, stdout } = await attachStreams(url);
    await stdin.write('hello\n');
    await waitFor('the container to answer', () => stdout.text().includes('\n'));
    expect(stdout.text()).toBe('got hello\n');
    c.close();
  });

  it('Attach with stdin to a container created without stdin works as in containerd: output flows, the input is dropped', async () => {
    // `kubectl attach -i` to such a container: the kubelet passes stdin=true on as is.
    const id = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'while true; do echo tick; sleep 0.2; done']));
    const { url } = await call(d.client.runtime, 'Attach', { container_id: id, stdin: true, stdout: true, stderr: true, tty: false });
    const { c, stdin, stdout } = await attachStreams(url);
    await stdin.write('ignored\n');
    await stdin.end();
    await waitFor('output through the attach', () => stdout.text().includes('tick\ntick\n'));
    expect(stdout.text()).not.toContain('ignored');
    c.close();
    expect((await call(d.client.runtime, 'ContainerStatus', { container_id: id })).status?.state).toBe('CONTAINER_RUNNING');
  });

  it('PortForward reaches a port inside the pod network namespace', async () => {
    await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'while true; do echo pong | nc -l -p 8099; done']));
    const { url } = await call(d.client.runtime, 'PortForward', { pod_sandbox_id: podId, port: [8099] });
    const c = await SpdyClient.connect(url, { protocols: ['portforward.k8s.io'] });
    const error = await c.createStream({ streamType: 'error', port: '8099', requestID: '0' });
    await error.end();
    const data = await c.createStream({ streamType: 'data', port: '8099', requestID: '0' });
    await data.end();
    expect((await data.all()).toString()).toBe('pong\n');
    c.close();
  });
});
