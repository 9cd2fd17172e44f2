import { describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.js';
import { availableCapabilities, computeCapabilities } from './capabilities.js';
import { allCapabilities, defaultCapabilities } from './defaults.js';

describe('capabilities', () => {
  it('without a security context: the default set in bounding/effective/permitted, nothing inheritable', () => {
    const c = computeCapabilities(undefined, false);
    expect(c.bounding).toEqual(defaultCapabilities());
    expect(c.effective).toEqual(defaultCapabilities());
    expect(c.permitted).toEqual(defaultCapabilities());
    expect(c.inheritable).toBeUndefined();
    expect(c.ambient).toBeUndefined();
  });

  it('adds and drops by CRI name (with or without CAP_, any case)', () => {
    const c = computeCapabilities({ addCapabilities: ['NET_ADMIN', 'cap_sys_time'], dropCapabilities: ['CHOWN', 'CAP_KILL'] }, false);
    expect(c.bounding).toContain('CAP_NET_ADMIN');
    expect(c.bounding).toContain('CAP_SYS_TIME');
    expect(c.bounding).not.toContain('CAP_CHOWN');
    expect(c.bounding).not.toContain('CAP_KILL');
    expect(c.bounding).toHaveLength(14);
  });

  it('drop ALL then add one leaves only that one', () => {
    expect(computeCapabilities({ addCapabilities: ['NET_BIND_SERVICE'], dropCapabilities: ['ALL'] }, false).bounding).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(computeCapabilities({ dropCapabilities: ['all'] }, false).bounding).toEqual([]);
  });

  it('add ALL then drop one gives everything but that one', () => {
    const c = computeCapabilities({ addCapabilities: ['ALL'], dropCapabilities: ['SYS_ADMIN'] }, false);
    expect(c.bounding).toHaveLength(allCapabilities().length - 1);
    expect(c.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(c.bounding).toContain('CAP_SYS_MODULE');
  });

  it('add ALL is cut to what the node can give (kernel last cap, the daemon own capabilities)', () => {
    expect(computeCapabilities({ addCapabilities: ['ALL'] }, false, allCapabilities(37)).bounding).toHaveLength(38);
    const noResource = availableCapabilities({ daemonCapabilities: allCapabilities().filter((c) => c !== 'CAP_SYS_RESOURCE') });
    expect(noResource).toHaveLength(40);
    expect(computeCapabilities({ addCapabilities: ['ALL'] }, false, noResource).bounding).not.toContain('CAP_SYS_RESOURCE');
    expect(computeCapabilities(undefined, true, noResource).bounding).not.toContain('CAP_SYS_RESOURCE');
    expect(availableCapabilities({ capLastCap: 37, daemonCapabilities: ['CAP_CHOWN', 'CAP_BPF'] })).toEqual(['CAP_CHOWN']);
  });

  it('an explicit add of a capability the daemon lacks is FailedPrecondition naming it', () => {
    const noResource = availableCapabilities({ daemonCapabilities: allCapabilities().filter((c) => c !== 'CAP_SYS_RESOURCE') });
    expect(() => computeCapabilities({ addCapabilities: ['SYS_RESOURCE'] }, false, noResource)).toThrow(FailedPreconditionError);
    expect(() => computeCapabilities({ addAmbientCapabilities: ['SYS_RESOURCE'] }, false, noResource)).toThrow(
      'add_ambient_capabilities: CAP_SYS_RESOURCE cannot be granted on this node',
    );
    expect(() => computeCapabilities({ addCapabilities: ['BPF'] }, false, allCapabilities(37))).toThrow(FailedPreconditionError);
  });

  it('privileged gets every capability and ignores drops', () => {
    const c = computeCapabilities({ dropCapabilities: ['ALL'] }, true);
    expect(c.bounding).toEqual(allCapabilities());
    expect(c.effective).toEqual(allCapabilities());
    expect(c.permitted).toEqual(allCapabilities());
  });

  it('ambient capabilities are also inheritable and permitted', () => {
    const c = computeCapabilities({ dropCapabilities: ['ALL'], addAmbientCapabilities: ['NET_BIND_SERVICE'] }, false);
    expect(c).toEqual({
      bounding: ['CAP_NET_BIND_SERVICE'],
      effective: ['CAP_NET_BIND_SERVICE'],
      permitted: ['CAP_NET_BIND_SERVICE'],
      inheritable: ['CAP_NET_BIND_SERVICE'],
      ambient: ['CAP_NET_BIND_SERVICE'],
    });
  });

  it('an unknown capability is InvalidArgument naming it and the field', () => {
    expect(() => computeCapabilities({ addCapabilities: ['FLY'] }, false)).toThrow(InvalidArgumentError);
    expect(() => computeCapabilities({ dropCapabilities: ['NOPE'] }, false)).toThrow('drop_capabilities: unknown capability "NOPE"');
  });
});
