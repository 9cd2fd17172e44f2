// `nexcage doctor`: checks what a node needs to run nexcage under a kubelet and prints OK / WARN /
// FAIL with a fix for each; exit 0 (all OK), 1 (a warning) or 2 (a failure); --json for machines.
// Each check is a small module under doctor/; they run side by side against the real host.
import { statfs } from 'node:fs/promises';
import { release } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../daemon/config.js';
import type { Config } from '../daemon/config-schema.js';
import { errorMessage } from '../lib/errors.js';
import { run } from '../lib/exec.js';
import { conmonCheck, criuCheck, runtimesCheck } from './doctor/binaries.js';
import { cgroupsCheck } from './doctor/cgroups.js';
import type { Check, CheckResult, DoctorContext, DoctorHost, Level } from './doctor/check.js';
import { cniCheck } from './doctor/cni.js';
import { idmapCheck, overlayCheck } from './doctor/kernel.js';
import { kubeletEndpointCheck } from './doctor/kubelet.js';
import { registryCheck } from './doctor/registry.js';
import { lsmCheck, seccompCheck } from './doctor/security.js';
import { socketCheck } from './doctor/socket.js';
import { storageCheck } from './doctor/storage.js';

export const CHECKS: Check[] = [
  runtimesCheck,
  conmonCheck,
  criuCheck,
  cgroupsCheck,
  overlayCheck,
  idmapCheck,
  seccompCheck,
  lsmCheck,
  cniCheck,
  socketCheck,
  kubeletEndpointCheck,
  storageCheck,
  registryCheck,
];

export const DEFAULT_KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
export const DEFAULT_CLOCK_REGISTRY = 'https://registry-1.docker.io';

export function realHost(kubeletConfig = DEFAULT_KUBELET_CONFIG, timeoutMs = 3000): DoctorHost {
  return {
    root: '/',
    path: (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter(Boolean),
    kernelRelease: release(),
    kubeletConfig,
    run: async (command, args) => {
      try {
        return await run(command, args, { timeoutMs, allowFailure: true });
      } catch (err) {
        return { exitCode: null, stdout: '', stderr: errorMessage(err) };
      }
    },
    probe: async (url) => {
      const res = await fetch(url, { method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      await res.body?.cancel();
      return { status: res.status, date: res.headers.get('date') ?? undefined };
    },
    now: () => Date.now(),
    statfs: async (path) => {
      const s = await statfs(path);
      return { bsize: s.bsize, blocks: s.blocks, bavail: s.bavail, files: s.files, ffree: s.ffree };
    },
  };
}

/** Runs every check; a check that throws is itself a FAIL naming the error. */
export async function runDoctor(ctx: DoctorContext, checks: Check[] = CHECKS): Promise<CheckResult[]> {
  const all = await Promise.all(
    checks.map((c) => c(ctx).catch((err: unknown): CheckResult[] => [{ check: c.name.replace(/Check$/, ''), level: 'fail', message: `the check itself failed: ${errorMessage(err)}`, fix: 'report this as a nexcage bug' }])),
  );
  return all.flat();
}

const RANK: Record<Level, number> = { ok: 0, warn: 1, fail: 2 };

export function worst(results: CheckResult[]): Level {
  return results.reduce<Level>((w, r) => (RANK[r.level] > RANK[w] ? r.level : w), 'ok');
}

export function exitCode(results: CheckResult[]): number {
  return RANK[worst(results)];
}

export function formatText(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.check.length));
  const lines = results.map((r) => {
    const head = `${r.level.toUpperCase().padEnd(4)}  ${r.check.padEnd(width)}  ${r.message}`;
    return r.fix ? `${head}\n${' '.repeat(width + 8)}fix: ${r.fix}` : head;
  });
  const counts = (['ok', 'warn', 'fail'] as const).map((l) => `${results.filter((r) => r.level === l).length} ${l.toUpperCase()}`).join(', ');
  return `${lines.join('\n')}\n\n${counts}\n`;
}

const USAGE = `usage: nexcage doctor [--json] [--config PATH] [--kubelet-config PATH] [--registry URL]

Checks this node for nexcage: OCI runtimes, conmon, CRIU, cgroups (version, controllers, driver
against the kubelet's), overlayfs, idmapped mounts, seccomp/AppArmor/SELinux, CNI, the socket, the
kubelet's runtime endpoint, free space and inodes, registry mirrors and clock skew.
Exit status: 0 all OK, 1 a warning, 2 a failure.

flags:
  --json                 one JSON object: {"results": [...], "worst": "ok|warn|fail"}
  --config PATH          nexcage configuration (default /etc/nexcage/config.json)
  --kubelet-config PATH  KubeletConfiguration to compare with (default ${DEFAULT_KUBELET_CONFIG})
  --registry URL         registry whose Date header the clock is compared with when no mirror answers
                         (default ${DEFAULT_CLOCK_REGISTRY})
  --help                 show this help
`;

export async function doctorCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: { json: { type: 'boolean' }, config: { type: 'string' }, 'kubelet-config': { type: 'string' }, registry: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    process.stderr.write(`nexcage doctor: ${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let config: Config;
  try {
    config = (await loadConfig({ ...(values.config ? { file: values.config } : {}), env })).config;
  } catch (err) {
    process.stderr.write(`nexcage doctor: ${errorMessage(err)}\n`);
    return 2;
  }
  const ctx: DoctorContext = { config, host: realHost(values['kubelet-config'] ?? DEFAULT_KUBELET_CONFIG), clockRegistry: values.registry ?? DEFAULT_CLOCK_REGISTRY };
  const results = await runDoctor(ctx);
  process.stdout.write(values.json ? `${JSON.stringify({ results, worst: worst(results) }, null, 2)}\n` : formatText(results));
  return exitCode(results);
}
