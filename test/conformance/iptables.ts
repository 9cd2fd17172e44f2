// iptables rules the CNI plugins (bridge ipMasq, portmap) left for the run's pods, found by the run's
// subnet and the pod ids in their comments, and removed: rules first, then the per-pod CNI-* chains.
// The shared CNI-HOSTPORT-* chains stay: portmap keeps them for every network on the node.
import { run } from '../../src/lib/exec.js';

export interface IptablesCleanup {
  /** iptables arguments without the table, e.g. ['-D', 'POSTROUTING', '-s', ...]; in order. */
  commands: string[][];
  /** The offending rules as iptables-save printed them. */
  rules: string[];
}

/** Splits an iptables-save rule line into arguments ("..." with \" escapes is one argument). */
export function splitRule(line: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) args.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return args;
}

const target = (args: string[]): string | undefined => args[args.indexOf('-j') + 1 || -1];
const perPodChain = (c: string | undefined): c is string => !!c && c.startsWith('CNI-') && !c.startsWith('CNI-HOSTPORT-');

/** What to delete from one table's iptables-save output for pods on `subnet` (a.b.c.0/24). */
export function planCleanup(save: string, subnet: string): IptablesCleanup {
  const prefix = subnet.replace(/0\/24$/, '');
  const rules = save.split('\n').filter((l) => l.startsWith('-A '));
  const ids = new Set<string>();
  for (const r of rules) if (r.includes(prefix)) for (const m of r.matchAll(/id: \\"([0-9a-f]{64})\\"/g)) ids.add(m[1]!);
  const tainted = rules.filter((r) => r.includes(prefix) || [...ids].some((id) => r.includes(id)));
  const chains = new Set<string>();
  for (const r of tainted) {
    const args = splitRule(r);
    for (const c of [args[1], target(args)]) if (perPodChain(c)) chains.add(c);
  }
  // Jumps into those chains from shared chains (CNI-HOSTPORT-DNAT -> CNI-DN-<hash>) go too.
  const doomed = rules.filter((r) => tainted.includes(r) || chains.has(target(splitRule(r)) ?? ''));
  const commands: string[][] = [];
  for (const r of doomed) {
    const args = splitRule(r);
    if (!chains.has(args[1]!)) commands.push(['-D', ...args.slice(1)]);
  }
  for (const c of chains) commands.push(['-F', c]);
  for (const c of chains) commands.push(['-X', c]);
  return { commands, rules: doomed };
}

/** Finds and removes the run's leftover rules in nat and filter; returns them (empty = none). */
export async function cleanIptables(subnet: string): Promise<string[]> {
  const found: string[] = [];
  for (const table of ['nat', 'filter']) {
    const save = await run('iptables-save', ['-t', table]).catch(() => undefined);
    if (!save) continue;
    const plan = planCleanup(save.stdout, subnet);
    found.push(...plan.rules.map((r) => `iptables -t ${table} ${r}`));
    for (const cmd of plan.commands) await run('iptables', ['-w', '-t', table, ...cmd]).catch(() => undefined);
  }
  return found;
}
