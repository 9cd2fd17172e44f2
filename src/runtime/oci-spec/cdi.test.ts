import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.js';
import { applyCdiEdits, cdiEditsFor, parseCdiName, parseCdiSpec } from './cdi.js';
import { completeDeviceNodes, loadCdiSpecs } from './cdi-loader.js';
import type { Spec } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'nexcage-cdi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vendorYaml = `
cdiVersion: "0.6.0"
kind: "vendor.example/gpu"
containerEdits:
  env: ["VENDOR_COMMON=1"]
devices:
  - name: gpu0
    containerEdits:
      env: ["GPU=0"]
      deviceNodes:
        - path: /dev/vgpu0
          hostPath: /dev/null
          permissions: rw
      mounts:
        - hostPath: /opt/vendor/lib
          containerPath: /usr/lib/vendor
          options: [ro, rbind]
      hooks:
        - hookName: createContainer
          path: /usr/bin/vendor-hook
          args: [vendor-hook, create]
  - name: gpu1
    containerEdits:
      env: ["GPU=1"]
`;

const base = (): Spec => ({
  ociVersion: '1.0.2-dev',
  process: { cwd: '/', user: { uid: 0, gid: 0, additionalGids: [0] }, env: ['PATH=/bin', 'GPU=none'] },
  mounts: [],
  linux: { resources: { devices: [{ allow: false, access: 'rwm' }] } },
});

describe('CDI', () => {
  it('parses fully-qualified names', () => {
    expect(parseCdiName('vendor.example/gpu=gpu0')).toEqual({ kind: 'vendor.example/gpu', device: 'gpu0' });
    expect(() => parseCdiName('gpu0')).toThrow(InvalidArgumentError);
    expect(() => parseCdiName('vendor/gpu=')).toThrow(/fully-qualified/);
  });

  it('loads YAML and JSON specs from the directories, skipping broken files', async () => {
    const etc = join(dir, 'etc-cdi');
    mkdirSync(etc);
    writeFileSync(join(etc, 'vendor.yaml'), vendorYaml);
    writeFileSync(join(etc, 'broken.json'), '{"cdiVersion": 1}');
    writeFileSync(join(etc, 'README.txt'), 'ignored');
    const { specs, errors } = await loadCdiSpecs([etc, join(dir, 'missing')]);
    expect(specs.map((s) => s.kind)).toEqual(['vendor.example/gpu']);
    expect(errors).toEqual([expect.stringMatching(/broken\.json.*cdiVersion missing/)]);
  });

  it('turns a device into container edits: env, nodes from the host, mounts, hooks', async () => {
    const spec = parseCdiSpec(vendorYaml, '/etc/cdi/vendor.yaml');
    const edits = await completeDeviceNodes(cdiEditsFor(['vendor.example/gpu=gpu0', 'vendor.example/gpu=gpu1'], [spec]));
    // common edits once, then each device's
    expect(edits.map((e) => e.env)).toEqual([['VENDOR_COMMON=1'], ['GPU=0'], ['GPU=1']]);
    expect(edits[1]!.deviceNodes![0]).toMatchObject({ path: '/dev/vgpu0', type: 'c', major: 1, minor: 3, fileMode: 0o666 });
    const s = base();
    applyCdiEdits(s, edits);
    expect(s.process!.env).toEqual(['PATH=/bin', 'GPU=1', 'VENDOR_COMMON=1']);
    expect(s.linux!.devices).toEqual([{ path: '/dev/vgpu0', type: 'c', major: 1, minor: 3, fileMode: 0o666 }]);
    expect(s.linux!.resources!.devices!.at(-1)).toEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
    expect(s.mounts).toEqual([{ destination: '/usr/lib/vendor', source: '/opt/vendor/lib', type: 'bind', options: ['ro', 'rbind'] }]);
    expect(s.hooks).toEqual({ createContainer: [{ path: '/usr/bin/vendor-hook', args: ['vendor-hook', 'create'] }] });
  });

  it('an unknown device is InvalidArgument naming it; a later spec overrides an earlier one', () => {
    const a = parseCdiSpec(vendorYaml, '/etc/cdi/vendor.yaml');
    expect(() => cdiEditsFor(['vendor.example/gpu=gpu9'], [a])).toThrow('CDI device "vendor.example/gpu=gpu9": no CDI spec defines it');
    const b = parseCdiSpec(
      JSON.stringify({ cdiVersion: '0.6.0', kind: 'vendor.example/gpu', devices: [{ name: 'gpu0', containerEdits: { env: ['GPU=dynamic'] } }] }),
      '/var/run/cdi/vendor.json',
    );
    expect(cdiEditsFor(['vendor.example/gpu=gpu0'], [a, b])).toEqual([{ env: ['GPU=dynamic'] }]);
  });

  it('rejects malformed specs naming file and field', () => {
    expect(() => parseCdiSpec('{"cdiVersion":"0.6.0","kind":"nokind","devices":[]}', '/x.json')).toThrow(/CDI spec "\/x.json": kind "nokind"/);
    expect(() =>
      parseCdiSpec('{"cdiVersion":"0.6.0","kind":"a.b/c","devices":[{"name":"d","containerEdits":{"mounts":[{"hostPath":"/h","containerPath":"../x"}]}}]}', '/x.json'),
    ).toThrow(/containerPath must be absolute/);
    expect(() =>
      parseCdiSpec('{"cdiVersion":"0.6.0","kind":"a.b/c","devices":[{"name":"d","containerEdits":{"hooks":[{"hookName":"later","path":"/h"}]}}]}', '/x.json'),
    ).toThrow(/hookName "later"/);
  });

  it('a CDI node whose host device is missing is InvalidArgument', async () => {
    await expect(completeDeviceNodes([{ deviceNodes: [{ path: '/dev/nope-nexcage' }] }])).rejects.toThrow('CDI device node "/dev/nope-nexcage": does not exist');
  });
});
