// Debian's containerd as a peer for side-by-side benchmarks: installed with apt-get if missing,
// started privately (its own root, state, socket and config; the CRI plugin with
// restrict_oom_score_adj, as root here lacks CAP_SYS_RESOURCE; plain-HTTP registry hosts for
// local test registries) and driven through CRI with our own client, like the nexcage daemon.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { call, connectCri, type CriClient } from '../src/cri/grpc/client.js';
import { run } from '../src/lib/exec.js';

export interface PeerOptions {
  /** Everything of this containerd lives under here (removed by the caller). */
  dir: string;
  /** host:port of plain-HTTP registries (local test registries) it may pull from. */
  plainHttpRegistries?: string[];
  /** For pods: the infra image (containerd's default is on the internet), a CNI conflist and its plugins' dir. */
  sandboxImage?: string;
  cniConfList?: object;
  cniBinDir?: string;
}

/** Install containerd from Debian if it is not there yet. */
export async function ensureContainerd(): Promise<string> {
  const bin = '/usr/bin/containerd';
  if (!existsSync(bin)) await run('apt-get', ['install', '-y', '--no-install-recommends', 'containerd'], { timeoutMs: 600_000 });
  return bin;
}

export class PeerContainerd {
  proc: ChildProcess | undefined;
  client!: CriClient;
  readonly socket: string;
  version = '';

  constructor(readonly o: PeerOptions) {
    this.socket = join(o.dir, 'containerd.sock');
  }

  get pid(): number {
    return this.proc?.pid ?? 0;
  }

  async start(): Promise<void> {
    const bin = await ensureContainerd();
    this.version = (await run(bin, ['--version'])).stdout.trim();
    const d = this.o.dir;
    const hostsDir = join(d, 'certs.d');
    for (const host of this.o.plainHttpRegistries ?? []) {
      await mkdir(join(hostsDir, host), { recursive: true });
      await writeFile(join(hostsDir, host, 'hosts.toml'), `server = "http://${host}"\n\n[host."http://${host}"]\n  capabilities = ["pull", "resolve"]\n`);
    }
    await mkdir(join(d, 'cni-conf'), { recursive: true });
    if (this.o.cniConfList) await writeFile(join(d, 'cni-conf', '10-bench.conflist'), JSON.stringify(this.o.cniConfList));
    const config = [
      'version = 2',
      `root = "${join(d, 'root')}"`,
      `state = "${join(d, 'state')}"`,
      // Only what a CRI pull needs; the others would probe the host for nothing.
      'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
      '[grpc]',
      `  address = "${this.socket}"`,
      '[ttrpc]',
      `  address = "${join(d, 'containerd.sock.ttrpc')}"`,
      '[debug]',
      `  address = ""`,
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.grpc.v1.cri"]',
      '  restrict_oom_score_adj = true',
      ...(this.o.sandboxImage ? [`  sandbox_image = "${this.o.sandboxImage}"`] : []),
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    snapshotter = "overlayfs"',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    conf_dir = "${join(d, 'cni-conf')}"`,
      ...(this.o.cniBinDir ? [`    bin_dir = "${this.o.cniBinDir}"`] : []),
      '  [plugins."io.containerd.grpc.v1.cri".registry]',
      `    config_path = "${hostsDir}"`,
      '',
    ].join('\n');
    const cfg = join(d, 'config.toml');
    await writeFile(cfg, config);
    const proc = spawn(bin, ['--config', cfg, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: string[] = [];
    proc.stderr?.on('data', (c: Buffer) => {
      stderr.push(c.toString());
      if (stderr.length > 50) stderr.shift();
    });
    this.proc = proc;
    this.client = connectCri(this.socket);
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`containerd exited with ${proc.exitCode} before serving: ${stderr.join('').slice(-2000)}`);
      try {
        await call(this.client.image, 'ImageFsInfo', {}, 1000);
        return;
      } catch (err) {
        if (i > 300) throw new Error(`containerd did not serve CRI within 30 s: ${(err as Error).message}; ${stderr.join('').slice(-2000)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    this.client?.close();
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise((r) => {
      p.on('exit', r);
      p.kill('SIGTERM');
    });
  }
}

/** utime + stime (+ reaped children's) of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17 of stat (utime, stime, cutime, cstime); f[0] is field 3.
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks / 100;
}

/** Reset the process's peak RSS (VmHWM) so a later peakRssMiB covers only what follows. */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

export function peakRssMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
