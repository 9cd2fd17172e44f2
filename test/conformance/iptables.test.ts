import { describe, expect, it } from 'vitest';
import { planCleanup, splitRule } from './iptables.js';

const ID = 'ab'.repeat(32);
const OTHER = 'cd'.repeat(32);
const comment = (id: string, pre = ''): string => `-m comment --comment "${pre}name: \\"nexcage-default\\" id: \\"${id}\\""`;
const SAVE = [
  '*nat',
  ':CNI-HOSTPORT-DNAT - [0:0]',
  `-A POSTROUTING -s 10.236.108.2/32 ${comment(ID)} -j CNI-8db487bae54c361d9529aedf`,
  `-A POSTROUTING -s 10.99.0.5/32 ${comment(OTHER)} -j CNI-1111111111111111111111111`,
  `-A CNI-8db487bae54c361d9529aedf -d 10.236.108.0/24 ${comment(ID)} -j ACCEPT`,
  `-A CNI-HOSTPORT-DNAT -p tcp ${comment(ID, 'dnat ')} -m multiport --dports 18080 -j CNI-DN-8db487bae54c361d9529a`,
  '-A CNI-DN-8db487bae54c361d9529a -s 10.236.108.0/24 -p tcp -m tcp --dport 18080 -j CNI-HOSTPORT-SETMARK',
  '-A CNI-DN-8db487bae54c361d9529a -p tcp -m tcp --dport 18080 -j DNAT --to-destination 10.236.108.2:80',
  '-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE',
  'COMMIT',
].join('\n');

describe('iptables cleanup', () => {
  it('splits quoted comments as one argument', () => {
    expect(splitRule(`-A X ${comment(ID)} -j Y`)).toEqual(['-A', 'X', '-m', 'comment', '--comment', `name: "nexcage-default" id: "${ID}"`, '-j', 'Y']);
  });

  it("removes the run's rules and per-pod chains, never another network's or the shared chains", () => {
    const plan = planCleanup(SAVE, '10.236.108.0/24');
    expect(plan.rules).toHaveLength(5);
    const cmds = plan.commands.map((c) => c.slice(0, 2).join(' '));
    expect(cmds).toEqual([
      '-D POSTROUTING',
      '-D CNI-HOSTPORT-DNAT',
      '-F CNI-8db487bae54c361d9529aedf',
      '-F CNI-DN-8db487bae54c361d9529a',
      '-X CNI-8db487bae54c361d9529aedf',
      '-X CNI-DN-8db487bae54c361d9529a',
    ]);
    expect(plan.commands[0]).toContain(`name: "nexcage-default" id: "${ID}"`);
  });

  it('finds nothing when no rule names the subnet', () => {
    expect(planCleanup(SAVE, '10.201.1.0/24')).toEqual({ commands: [], rules: [] });
  });
});
