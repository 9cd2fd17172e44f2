// `make conformance`: the upstream CRI validation suite (critest, from ../shared/conformance) against
// the built daemon. A private registry on loopback serves the kit's stand-in images under their
// upstream paths, the daemon mirrors registry.k8s.io, gcr.io, public.ecr.aws and docker.io to it,
// critest runs, and everything is torn down and checked for leaks. Writes build/conformance/
// (report.json, critest.log, daemon.log); exit 1 on any failure but the expected digest spec.
// CRITEST_FOCUS=<regexp> runs only the matching specs (--ginkgo.focus), CRITEST_ARGS adds arguments.
import { spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { run } from '../../src/lib/exec.js';
import { Daemon, REPO, TestDir, leftovers } from '../e2e/harness.js';
import { TestRegistry } from '../support/registry.js';
import { childCgroups, cleanNode, removeAllThroughCri } from './cleanup.js';
import { cleanIptables } from './iptables.js';
import { formatSummary, summarize } from './report.js';

const KIT = resolve(REPO, '../shared/conformance');
const CRITEST = process.env.CRITEST || join(KIT, 'bin/critest');
const OUT = join(REPO, 'build/conformance');
/** Where pods go without a CRI cgroup_parent (DEFAULT_CGROUPFS_PARENT): watched for leftovers. */
const DEFAULT_CGROUP_PARENT = '/nexcage';
/** Ginkgo's own limit; the runner kills critest a little later if that did not stop it. */
const SUITE_TIMEOUT_MIN = 30;
const MIRRORED = ['registry.k8s.io', 'gcr.io', 'public.ecr.aws', 'docker.io'];

const say = (msg: string): void => void process.stdout.write(`conformance: ${msg}\n`);

/** Our own bridge and /24 (10.200-249.x): never the daemon default nor an e2e file's 10.100-199.x. */
function podNetwork(dir: TestDir): { defaultBridge: string; defaultSubnet: string } {
  let h = 0;
  for (const c of dir.tag) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return { defaultBridge: `nxc${dir.tag}`, defaultSubnet: `10.${200 + (h % 50)}.${(h >>> 8) % 256}.0/24` };
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('must run as root (pods, mounts, CNI)');
  for (const [what, path] of [['critest (CRITEST=...)', CRITEST], ['push-images.sh', join(KIT, 'push-images.sh')]] as const) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new Error(`${what} not found or not executable: ${path}`);
    }
  }
}

let critestChild: ReturnType<typeof spawn> | undefined;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  // Stop critest and fall through to the teardown instead of dying with pods still running.
  process.on(sig, () => {
    interrupted = true;
    critestChild?.kill('SIGTERM');
  });
}

/** critest from a scratch dir, its output shown live and kept in critest.log; resolves with its exit code. */
async function runCritest(socket: string, scratch: string): Promise<number | null> {
  await mkdir(scratch, { recursive: true });
  const args = [
    `--runtime-endpoint=unix://${socket}`,
    `--image-endpoint=unix://${socket}`,
    '--config=/dev/null',
    '--ginkgo.no-color',
    `--ginkgo.timeout=${SUITE_TIMEOUT_MIN}m`,
    '--ginkgo.json-report=report.json',
    ...(process.env.CRITEST_FOCUS ? [`--ginkgo.focus=${process.env.CRITEST_FOCUS}`] : []),
    ...(process.env.CRITEST_ARGS ?? '').split(/\s+/).filter((a) => a !== ''),
  ];
  say(`${CRITEST} ${args.join(' ')}`);
  const log = createWriteStream(join(OUT, 'critest.log'));
  const child = spawn(CRITEST, args, { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
  critestChild = child;
  const tee = (b: Buffer): void => {
    process.stdout.write(b);
    log.write(b);
  };
  child.stdout.on('data', tee);
  child.stderr.on('data', tee);
  const killer = setTimeout(() => child.kill('SIGKILL'), (SUITE_TIMEOUT_MIN + 5) * 60_000);
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  clearTimeout(killer);
  critestChild = undefined;
  await new Promise((r) => log.end(r));
  return code;
}

async function main(): Promise<number> {
  preflight();
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const problems: string[] = [];
  let registry: TestRegistry | undefined;
  let dir: TestDir | undefined;
  let daemon: Daemon | undefined;
  let report: string | undefined;
  const cgroupsBefore = childCgroups(DEFAULT_CGROUP_PARENT);
  try {
    registry = await TestRegistry.start();
    say(`registry on ${registry.url}; pushing the stand-in images`);
    await run(join(KIT, 'push-images.sh'), [registry.host], { timeoutMs: 10 * 60_000 });

    dir = await TestDir.create();
    // Searchable by others (not listable): runc reaches a user-namespaced pod's rootfs under the
    // state dir as the pod's root, or the daemon offers no user namespaces (UserNamespaces specs).
    await chmod(dir.path, 0o711);
    await mkdir(dir.join('cni-conf')); // empty: the daemon's built-in bridge network
    const mirrors = Object.fromEntries(MIRRORED.map((h) => [h, [registry!.url]]));
    daemon = new Daemon(dir, 'daemon', {
      config: { cni: { confDirs: [dir.join('cni-conf')], ...podNetwork(dir) }, registry: { mirrors, insecure: [registry.host] } },
    });
    await daemon.start();
    say(`daemon serving on ${daemon.socket} (pid ${daemon.pid}), pod network ${podNetwork(dir).defaultSubnet} on ${podNetwork(dir).defaultBridge}`);
    if (interrupted) throw new Error('interrupted');

    const scratch = dir.join('critest');
    const code = await runCritest(daemon.socket, scratch);
    say(`critest exited with ${code}`);
    if (existsSync(join(scratch, 'report.json'))) {
      await copyFile(join(scratch, 'report.json'), join(OUT, 'report.json'));
      report = await readFile(join(OUT, 'report.json'), 'utf8');
    } else problems.push(`critest wrote no report (exit ${code})`);
  } catch (err) {
    problems.push(`run: ${(err as Error).message}`);
  } finally {
    problems.push(...(await teardown(dir, daemon, cgroupsBefore)));
    await registry?.stop();
  }

  process.stdout.write('\n');
  let failed = problems.length > 0;
  if (report !== undefined) {
    try {
      const s = summarize(report);
      process.stdout.write(formatSummary(s) + '\n');
      failed ||= s.failed.length + s.suiteFailures.length > 0;
    } catch (err) {
      problems.push(`report: ${(err as Error).message}`);
      failed = true;
    }
  }
  for (const p of problems) say(`PROBLEM: ${p}`);
  say(`report ${join(OUT, 'report.json')}, logs ${join(OUT, 'critest.log')} and ${join(OUT, 'daemon.log')}`);
  return failed ? 1 : 0;
}

/** Leftover pods and containers removed through CRI, daemon stopped, node checked; returns the problems. */
async function teardown(dir: TestDir | undefined, daemon: Daemon | undefined, cgroupsBefore: Set<string>): Promise<string[]> {
  const problems: string[] = [];
  if (daemon?.pid !== undefined) {
    try {
      const removed = await removeAllThroughCri(daemon.client);
      if (removed.length > 0) say(`removed what critest left in the daemon:\n  ${removed.join('\n  ')}`);
    } catch (err) {
      problems.push(`removing pods/containers through CRI: ${(err as Error).message}`);
    }
    const exit = await daemon.stop();
    if (exit.code !== 0) problems.push(`daemon exit ${JSON.stringify(exit)} on SIGTERM`);
    await writeFile(join(OUT, 'daemon.log'), daemon.lines.join('\n') + '\n');
  }
  if (!dir) return problems;
  const net = podNetwork(dir);
  const leaks = [...(await cleanNode(dir.path, DEFAULT_CGROUP_PARENT, cgroupsBefore, net.defaultBridge)), ...(await cleanIptables(net.defaultSubnet))];
  if (leaks.length > 0) problems.push(`left behind after the daemon stopped:\n  ${leaks.join('\n  ')}`);
  // Never rm -r across a mount that refused to go: it would delete through it.
  const mounts = leftovers(dir.path).filter((l) => l.startsWith('mount '));
  if (mounts.length === 0) await rm(dir.path, { recursive: true, force: true });
  else problems.push(`kept ${dir.path}: still mounted:\n  ${mounts.join('\n  ')}`);
  return problems;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`PROBLEM: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
