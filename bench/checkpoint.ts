// bench/checkpoint: CheckpointContainer and restore of a process with 64 MiB resident, through the
// built daemon on real runc + CRIU (the private build scripts/install-criu.sh makes when the host's
// criu cannot dump on this kernel). The process is a small static C program (built here with the
// host's gcc into a one-layer image on a local docker-registry) that fills 64 MiB with a pattern,
// then ticks. Reported: its RSS, the archive's size, the checkpoint's duration (the CRI call, and
// how long the container was paused), the restore's (CreateContainer from the archive into a new
// pod, and StartContainer, which restores), and that the restored process still holds its memory.
// Everything it makes (pods, containers, registry, dirs, cgroups, bridge) is removed at the end.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { call } from '../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { run } from '../src/lib/exec.js';
import { buildImage, layer, pushImage } from '../test/support/image-builder.js';
import { TestRegistry } from '../test/support/registry.js';
import { BenchDaemon, benchConfig, rssMiB } from './bench-daemon.js';
import { removeCgroups, single, summarize, timeMs, type Row, type Suite } from './lib.js';

const REPO = resolve(import.meta.dirname, '../..');
const RUNS = 5;
const MIB = 64;

/** Fills MIB MiB (every page touched, not zero: nothing for CRIU to skip), then ticks with a checksum. */
const PROGRAM = `
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
  size_t n = (size_t)${MIB} << 20;
  unsigned char *m = malloc(n);
  if (!m) return 1;
  for (size_t i = 0; i < n; i++) m[i] = (unsigned char)(i * 2654435761u >> 13);
  for (unsigned long t = 1;; t++) {
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i += 4096) sum += m[i];
    printf("tick %lu sum %lu\\n", t, sum);
    fflush(stdout);
    usleep(200000);
  }
}
`;

export const suite: Suite = {
  name: 'checkpoint',
  async run(): Promise<Row[]> {
    const rows: Row[] = [];
    const tag = randomBytes(3).toString('hex');
    const dir = await mkdtemp('/tmp/nexcage-bench-checkpoint-');
    const cgroupParent = `/nexcage-bench-${tag}`;
    const bridge = `nxb${tag}`;
    const criu = execFileSync(join(REPO, 'scripts/install-criu.sh'), ['--path'], { encoding: 'utf8' }).trim();
    const registry = await TestRegistry.start({ parent: dir });
    const d = new BenchDaemon(
      dir,
      benchConfig(dir, { criuPath: criu, cni: { confDirs: [join(dir, 'cni-conf')], defaultBridge: bridge, defaultSubnet: '10.252.0.0/16' } }),
    );
    const pods: string[] = [];
    try {
      await writeFile(join(dir, 'mem.c'), PROGRAM);
      await run('cc', ['-O2', '-static', '-o', join(dir, 'mem'), join(dir, 'mem.c')]);
      const img = buildImage({ layers: [await layer([{ path: 'mem', content: readFileSync(join(dir, 'mem')), mode: 0o755 }], 'gzip')], config: { Cmd: ['/mem'] } });
      await pushImage(registry.pushTarget, 'bench/mem', ['latest'], img);
      const image = `${registry.host}/bench/mem:latest`;
      await d.start();
      const rt = d.client.runtime;
      await call(d.client.image, 'PullImage', { image: { image } }, 120_000);
      let seq = 0;
      const newPod = async (): Promise<{ id: string; config: PodSandboxConfig }> => {
        const name = `ckpt${++seq}`;
        const config: PodSandboxConfig = {
          metadata: { name, uid: `uid-${name}-${tag}`, namespace: 'bench', attempt: 0 },
          hostname: name,
          log_directory: join(dir, 'logs', name),
          linux: { cgroup_parent: cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
        };
        const id = (await call(rt, 'RunPodSandbox', { config }, 60_000)).pod_sandbox_id;
        pods.push(id);
        return { id, config };
      };
      const lastTick = (logPath: string): { t: number; sum: number } | undefined => {
        const m = [...(existsSync(logPath) ? readFileSync(logPath, 'utf8') : '').matchAll(/tick (\d+) sum (\d+)/g)].at(-1);
        return m ? { t: Number(m[1]), sum: Number(m[2]) } : undefined;
      };
      const waitTick = async (logPath: string, after: number): Promise<{ t: number; sum: number }> => {
        for (let i = 0; i < 600; i++) {
          const last = lastTick(logPath);
          if (last && last.t > after) return last;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`no tick after ${after} in ${logPath}`);
      };

      const rss: number[] = [];
      const sizes: number[] = [];
      const checkpointMs: number[] = [];
      const createMs: number[] = [];
      const startMs: number[] = [];
      let sumKept = true;
      for (let i = 0; i < RUNS; i++) {
        const pod = await newPod();
        const cfg = { metadata: { name: 'mem', attempt: 0 }, image: { image }, log_path: 'mem.log' };
        const id = (await call(rt, 'CreateContainer', { pod_sandbox_id: pod.id, config: cfg, sandbox_config: pod.config }, 60_000)).container_id;
        await call(rt, 'StartContainer', { container_id: id }, 60_000);
        const logPath = join(dir, 'logs', pod.config.metadata!.name!, 'mem.log');
        const before = await waitTick(logPath, 1);
        const info = JSON.parse((await call(rt, 'ContainerStatus', { container_id: id, verbose: true })).info.info ?? '{}') as { pid: number };
        rss.push(rssMiB(info.pid));
        const archive = join(dir, `ckpt-${i}.tar`);
        checkpointMs.push(await timeMs(() => call(rt, 'CheckpointContainer', { container_id: id, location: archive, timeout: 120 }, 180_000)));
        sizes.push(statSync(archive).size / (1 << 20));
        const target = await newPod();
        let rid = '';
        createMs.push(
          await timeMs(async () => {
            rid = (await call(rt, 'CreateContainer', { pod_sandbox_id: target.id, config: { ...cfg, image: { image: archive } }, sandbox_config: target.config }, 120_000)).container_id;
          }),
        );
        startMs.push(await timeMs(() => call(rt, 'StartContainer', { container_id: rid }, 120_000)));
        const restored = await waitTick(join(dir, 'logs', target.config.metadata!.name!, 'mem.log'), before.t);
        if (restored.sum !== before.sum) sumKept = false;
        for (const c of [id, rid]) await call(rt, 'RemoveContainer', { container_id: c }, 60_000);
        for (const p of [pod.id, target.id]) await call(rt, 'RemovePodSandbox', { pod_sandbox_id: p }, 60_000);
        pods.splice(0);
        await rm(archive, { force: true });
      }
      rows.push(summarize('checkpointed process RSS', 'MiB', rss));
      rows.push(summarize('checkpoint archive size', 'MiB', sizes));
      rows.push(summarize('CheckpointContainer (pause, CRIU dump, layer, archive)', 'ms', checkpointMs));
      rows.push(summarize('restore: CreateContainer from the archive', 'ms', createMs, 'archive unpacked, rootfs diff applied'));
      rows.push(summarize('restore: StartContainer (conmon + runc restore)', 'ms', startMs));
      rows.push(summarize('restore total (create + start)', 'ms', createMs.map((c, i) => c + (startMs[i] ?? 0))));
      rows.push(single('restored process kept its memory (checksum)', 'bool', sumKept ? 1 : 0));
      return rows;
    } finally {
      if (d.proc && d.proc.exitCode === null) {
        for (const id of pods) await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
      }
      await d.stop();
      await registry.stop();
      await removeCgroups(cgroupParent);
      await run('ip', ['link', 'del', bridge], { allowFailure: true });
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  },
};
