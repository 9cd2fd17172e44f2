import { describe, expect, it } from 'vitest';
import { resolvConf, validateSysctls } from './pod-files.js';

describe('pod sysctls', () => {
  const podNs = { network: 'POD', ipc: 'POD' } as const;

  it('accepts namespaced net.*, IPC and mqueue sysctls (dots or slashes)', () => {
    expect(() => validateSysctls({ 'net.ipv4.ip_unprivileged_port_start': '0', 'net/core/somaxconn': '1024', 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '20' }, podNs)).not.toThrow();
  });

  it('refuses node-wide sysctls, naming the key', () => {
    expect(() => validateSysctls({ 'kernel.panic': '1' }, podNs)).toThrow(/"kernel\.panic" is not namespaced/);
    expect(() => validateSysctls({ 'vm.swappiness': '1' }, podNs)).toThrow(/vm\.swappiness/);
  });

  it('refuses sysctls of namespaces the pod shares with the node', () => {
    expect(() => validateSysctls({ 'net.ipv4.ip_forward': '1' }, { network: 'NODE', ipc: 'POD' })).toThrow(/host network/);
    expect(() => validateSysctls({ 'kernel.msgmax': '1' }, { network: 'POD', ipc: 'NODE' })).toThrow(/host IPC/);
  });

  it('refuses malformed names and multi-line values', () => {
    expect(() => validateSysctls({ 'net..x': '1' }, podNs)).toThrow(/not a valid sysctl name/);
    expect(() => validateSysctls({ 'net.core.somaxconn': '1\n2' }, podNs)).toThrow(/single line/);
  });
});

describe('pod resolv.conf', () => {
  it('writes searches, servers and options from the DNS config', () => {
    expect(resolvConf({ servers: ['10.0.0.10', '10.0.0.11'], searches: ['ns.svc.cluster.local', 'cluster.local'], options: ['ndots:5'] })).toBe(
      'search ns.svc.cluster.local cluster.local\nnameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5\n',
    );
  });

  it('falls back to the host file when the DNS config is empty', () => {
    expect(resolvConf(undefined)).toBeUndefined();
    expect(resolvConf({ servers: [], searches: [], options: [] })).toBeUndefined();
  });
});
