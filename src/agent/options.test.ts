import { describe, expect, it } from 'vitest';
import { parseAgentOptions, parseRuntimeClasses } from './options.js';

describe('agent options', () => {
  it('takes defaults, then the environment, then flags', () => {
    const o = parseAgentOptions(['--pre-pull', 'a:1, b:2', '--resync-seconds', '5'], { NODE_NAME: 'n1', NEXCAGE_AGENT_PRE_PULL: 'ignored', NEXCAGE_SOCKET: 'unix:///x.sock' });
    expect(o).toMatchObject({ nodeName: 'n1', prePull: ['a:1', 'b:2'], resyncSeconds: 5, socket: '/x.sock', healthAddress: '0.0.0.0:9102', runtimeClasses: [] });
  });

  it('names a RuntimeClass after its handler unless told otherwise', () => {
    expect(parseRuntimeClasses('runc, crun=nexcage-crun', 'flag')).toEqual([
      { name: 'runc', handler: 'runc' },
      { name: 'nexcage-crun', handler: 'crun' },
    ]);
  });

  it('refuses a handler that is not a DNS label, naming it', () => {
    expect(() => parseRuntimeClasses('Run_C', 'flag --runtime-classes')).toThrow(/flag --runtime-classes: handler "Run_C"/);
  });

  it('requires the node name and rejects unknown flags and bad numbers', () => {
    expect(() => parseAgentOptions([], {})).toThrow(/node name is required/);
    expect(() => parseAgentOptions(['--nope'], { NODE_NAME: 'n' })).toThrow(/nope/);
    expect(() => parseAgentOptions(['--resync-seconds', '0'], { NODE_NAME: 'n' })).toThrow(/--resync-seconds: must be a whole number from 1/);
    expect(parseAgentOptions(['--help'], {})).toBeUndefined();
  });
});
