// The sweep of runtime containers no record owns (after a crash between `runtime create` and the
// record, or a record lost): only ours (bundle under our dir) and unknown ones go; a handler
// whose binary vanished or a runtime that cannot list is skipped, not fatal.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.js';
import { FakeRuntime, World, fakeHandlers } from '../test-fakes.js';
import { runtimeOrUndefined, sweepRuntimeOrphans } from './runtime-sweep.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-sweep-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function setup() {
  const w = new World(dir);
  const runtime = new FakeRuntime(w);
  const handlers = fakeHandlers(runtime);
  const bundles = join(dir, 'state', 'containers');
  runtime.add('known', join(bundles, 'known'), 'running');
  runtime.add('orphan', join(bundles, 'orphan'), 'stopped');
  runtime.add('stuck', join(bundles, 'stuck'), 'created');
  runtime.add('foreign', join(dir, 'someone-else', 'foreign'), 'running');
  // A bundle dir whose name merely starts like ours is not ours.
  runtime.add('lookalike', `${bundles}-old/lookalike`, 'running');
  const after: string[] = [];
  const sweep = () =>
    sweepRuntimeOrphans({
      handlers,
      runtimeFor: handlers.runtimeFor,
      bundlesDir: bundles,
      known: (id) => id === 'known',
      log: silentLogger(),
      idField: 'containerId',
      what: 'container',
      afterDelete: async (id) => {
        after.push(id);
      },
    });
  return { w, runtime, handlers, sweep, after };
}

describe('orphan sweep', () => {
  it('force-deletes only unknown containers under our bundles dir, and cleans up after each', async () => {
    const x = setup();
    expect(await x.sweep()).toEqual(['orphan', 'stuck']);
    expect(x.after).toEqual(['orphan', 'stuck']);
    expect([...x.runtime.containers.keys()].sort()).toEqual(['foreign', 'known', 'lookalike']);
  });

  it('goes on past a delete that fails (logged), and past a runtime that cannot list', async () => {
    const x = setup();
    x.w.faults.fail('runtime.delete');
    expect(await x.sweep()).toEqual(['orphan', 'stuck']);
    expect(x.runtime.containers.has('orphan')).toBe(true); // its delete failed; tried again next start
    expect(x.runtime.containers.has('stuck')).toBe(false);
    x.w.faults.fail('runtime.list');
    expect(await x.sweep()).toEqual([]);
  });

  it('the runtime of a handler whose binary is missing, or of no such handler, is undefined', () => {
    const x = setup();
    expect(runtimeOrUndefined(x.handlers.runtimeFor, 'runc')).toBe(x.runtime);
    expect(runtimeOrUndefined(x.handlers.runtimeFor, 'gone')).toBeUndefined();
    expect(runtimeOrUndefined(x.handlers.runtimeFor, 'nope')).toBeUndefined();
  });
});
