// The grpc-go list client (bench/go/list-client.go) for the list latency rows (and ContainerStatus
// right after StartContainer): the kubelet is a Go program on grpc-go, so its transport, not the
// Node client's decode, is the figure that matters.
// Built from Debian's golang-google-grpc-dev in GOPATH mode: nothing is downloaded.
import { mkdtemp } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { run } from '../src/lib/exec.js';

const SOURCE = resolve(import.meta.dirname, '../../bench/go/list-client.go');
const GO_ENV = { GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '' };

/**
 * How often the client's Go runtime collects. A kubelet's heap holds tens of MiB, so Go's pacer lets
 * it allocate that much between two collections; this client's live heap is tiny, and with Go's
 * defaults it collected every 4 MiB: every ~12 ListContainers of 161 KiB (each answer is allocated
 * twice), its own GC on the same two cores as the daemon. 'kubelet' collects when the heap reaches
 * 64 MiB (GOMEMLIMIT, GOGC=off), after ~63 MiB allocated: as often as a kubelet with a live heap of
 * about that size (Go's default collects when the heap has doubled); 'small' is Go's default.
 */
export type ClientHeap = 'kubelet' | 'small';

function clientEnv(heap: ClientHeap): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.GOGC;
  delete env.GOMEMLIMIT;
  return heap === 'kubelet' ? { ...env, GOGC: 'off', GOMEMLIMIT: '64MiB' } : env;
}

export async function buildGoListClient(dir: string): Promise<string> {
  const out = join(await mkdtemp(join(dir, 'go-')), 'list-client');
  await run('go', ['build', '-o', out, SOURCE], { env: { ...process.env, ...GO_ENV, GOCACHE: join(dir, 'go-cache') }, timeoutMs: 300_000 });
  return out;
}

/**
 * Durations (ms) of `calls` calls of `method` (`Service/Method`, or a RuntimeService method name),
 * `gapMs` apart, with `request` as the encoded request (empty by default); and the answer's size.
 */
export async function goListCalls(
  binary: string,
  socket: string,
  method: string,
  calls: number,
  gapMs = 0,
  request?: Buffer,
  heap: ClientHeap = 'kubelet',
): Promise<{ ms: number[]; bytes: number }> {
  const full = method.includes('/') ? `/runtime.v1.${method}` : `/runtime.v1.RuntimeService/${method}`;
  const args = [socket, full, String(calls), String(gapMs), ...(request ? [request.toString('hex')] : [])];
  const { stdout } = await run(binary, args, { timeoutMs: 600_000, env: clientEnv(heap) });
  const lines = stdout.trim().split('\n');
  return { ms: lines.map((l) => Number(l.split(' ')[0])), bytes: Number(lines.at(-1)?.split(' ')[1] ?? 0) };
}

/**
 * Starts each created container and returns how long the ContainerStatus sent right after its
 * StartContainer answer took (ms), from grpc-go as the kubelet would send it.
 */
export async function goStartThenStatus(binary: string, socket: string, containerIds: string[]): Promise<number[]> {
  const { stdout } = await run(binary, [socket, 'start-then-status', containerIds.join(',')], { timeoutMs: 600_000, env: clientEnv('kubelet') });
  return stdout.trim().split('\n').map((l) => Number(l.split(' ')[0]));
}
