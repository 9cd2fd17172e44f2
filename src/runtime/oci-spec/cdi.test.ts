import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { applyCdiEdits, cdiEditsFor, parseCdiName, parseCdiSpec, type CdiContainerEdits, type CdiDeviceNode } from './cdi.js';
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

describe('CDI spec directories and device resolution', () => {
  it('a device in the dynamic dir overrides the static one, together with its own spec-level edits', async () => {
    const etc = join(dir, 'prec-etc');
    const run = join(dir, 'prec-run');
    mkdirSync(etc);
    mkdirSync(run);
    writeFileSync(
      join(etc, 'acme.yml'),
      ['cdiVersion: 0.6.0', 'kind: acme.example/fpga', 'containerEdits:', '  env: [ACME_SOURCE=static]', 'devices:', '  - name: f0', '    containerEdits:', '      env: [F0=static]', '  - name: f1', '    containerEdits:', '      env: [F1=static]', ''].join('\n'),
    );
    writeFileSync(
      join(run, 'acme.json'),
      JSON.stringify({ cdiVersion: '0.6.0', kind: 'acme.example/fpga', containerEdits: { env: ['ACME_SOURCE=dynamic'] }, devices: [{ name: 'f0', containerEdits: { env: ['F0=dynamic'] } }] }),
    );
    const { specs, errors } = await loadCdiSpecs([etc, run]);
    expect(errors).toEqual([]);
    expect(specs.map((s) => s.source)).toEqual([join(etc, 'acme.yml'), join(run, 'acme.json')]);
    expect(cdiEditsFor(['acme.example/fpga=f0'], specs).map((e) => e.env)).toEqual([['ACME_SOURCE=dynamic'], ['F0=dynamic']]);
    // f1 is only in /etc/cdi: its own spec's common edits come with it
    expect(cdiEditsFor(['acme.example/fpga=f1'], specs).map((e) => e.env)).toEqual([['ACME_SOURCE=static'], ['F1=static']]);
  });

  it('looks a device up only among specs of its kind', () => {
    const gpu = parseCdiSpec(JSON.stringify({ cdiVersion: '0.6.0', kind: 'vendor.example/gpu', devices: [{ name: 'd0', containerEdits: { env: ['KIND=gpu'] } }] }), '/etc/cdi/gpu.json');
    const nic = parseCdiSpec(JSON.stringify({ cdiVersion: '0.6.0', kind: 'vendor.example/nic', devices: [{ name: 'd0', containerEdits: { env: ['KIND=nic'] } }] }), '/etc/cdi/nic.json');
    expect(cdiEditsFor(['vendor.example/gpu=d0'], [gpu, nic])).toEqual([{ env: ['KIND=gpu'] }]);
    expect(cdiEditsFor(['vendor.example/nic=d0'], [gpu, nic])).toEqual([{ env: ['KIND=nic'] }]);
    expect(() => cdiEditsFor(['vendor.example/fpga=d0'], [gpu, nic])).toThrow('CDI device "vendor.example/fpga=d0": no CDI spec defines it');
  });

  it('an empty YAML list (key with no value) reads as no edits', () => {
    const spec = parseCdiSpec(['cdiVersion: 0.6.0', 'kind: a.example/b', 'devices:', '  - name: d', '    containerEdits:', '      env:', '      mounts:', ''].join('\n'), '/etc/cdi/a.yaml');
    expect(spec.devices).toEqual([{ name: 'd', containerEdits: { env: [], mounts: [] } }]);
  });
});

describe('applyCdiEdits (OCI spec fields produced)', () => {
  const withDevices = (deviceNodes: CdiDeviceNode[]): CdiContainerEdits[] => [{ deviceNodes }];

  it('device nodes: replaces a node at the same path, keeps mode/owner, allows c and b in the device cgroup only', () => {
    const s = base();
    s.linux!.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }, { path: '/dev/xpu0', type: 'c', major: 1, minor: 1 }];
    applyCdiEdits(
      s,
      withDevices([
        { path: '/dev/xpu0', type: 'c', major: 240, minor: 0, fileMode: 0o660, uid: 0, gid: 44, permissions: 'rw' },
        { path: '/dev/xblk', type: 'b', major: 259, minor: 3 },
        { path: '/dev/xfifo', type: 'p', major: 0, minor: 0 },
      ]),
    );
    expect(s.linux!.devices).toEqual([
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
      { path: '/dev/xpu0', type: 'c', major: 240, minor: 0, fileMode: 0o660, uid: 0, gid: 44 },
      { path: '/dev/xblk', type: 'b', major: 259, minor: 3 },
      { path: '/dev/xfifo', type: 'p', major: 0, minor: 0 },
    ]);
    expect(s.linux!.resources!.devices).toEqual([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 240, minor: 0, access: 'rw' },
      { allow: true, type: 'b', major: 259, minor: 3, access: 'rwm' },
    ]);
  });

  it('a node without owner goes to a non-root process user (as the CDI reference does), root keeps it unset', () => {
    const s = base();
    s.process!.user = { uid: 1000, gid: 2000 };
    applyCdiEdits(s, withDevices([{ path: '/dev/xpu0', type: 'c', major: 240, minor: 0 }, { path: '/dev/xpu1', type: 'c', major: 240, minor: 1, uid: 7, gid: 8 }]));
    expect(s.linux!.devices).toEqual([
      { path: '/dev/xpu0', type: 'c', major: 240, minor: 0, uid: 1000, gid: 2000 },
      { path: '/dev/xpu1', type: 'c', major: 240, minor: 1, uid: 7, gid: 8 },
    ]);
    const root = base();
    applyCdiEdits(root, withDevices([{ path: '/dev/xpu0', type: 'c', major: 240, minor: 0 }]));
    expect(root.linux!.devices).toEqual([{ path: '/dev/xpu0', type: 'c', major: 240, minor: 0 }]);
  });

  it('a node whose type/major/minor were not completed from the host is InvalidArgument naming it', () => {
    expect(() => applyCdiEdits(base(), withDevices([{ path: '/dev/xpu0', type: 'c', major: 240 }]))).toThrow('CDI device node "/dev/xpu0": type/major/minor not resolved');
  });

  it('mounts: a CDI mount replaces one at the same container path; default is an rw rbind', () => {
    const s = base();
    s.mounts = [
      { destination: '/etc/hosts', type: 'bind', source: '/var/lib/x/hosts', options: ['rbind', 'ro'] },
      { destination: '/usr/lib/vendor', type: 'bind', source: '/old', options: ['rbind'] },
    ];
    applyCdiEdits(s, [
      {
        mounts: [
          { hostPath: '/opt/vendor/lib', containerPath: '/usr/lib/vendor' },
          { hostPath: 'tmpfs', containerPath: '/var/vendor-cache', type: 'tmpfs', options: ['nosuid', 'size=64m'] },
        ],
      },
    ]);
    expect(s.mounts).toEqual([
      { destination: '/etc/hosts', type: 'bind', source: '/var/lib/x/hosts', options: ['rbind', 'ro'] },
      { destination: '/usr/lib/vendor', type: 'bind', source: '/opt/vendor/lib', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/var/vendor-cache', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=64m'] },
    ]);
  });

  it('hooks: appended under their OCI hook name with args, env and timeout', () => {
    const s = base();
    s.hooks = { poststop: [{ path: '/usr/bin/cleanup' }] };
    applyCdiEdits(s, [
      {
        hooks: [
          { hookName: 'poststop', path: '/usr/bin/vendor-release', args: ['vendor-release', '--all'], env: ['VENDOR_DEBUG=1'], timeout: 5 },
          { hookName: 'createRuntime', path: '/usr/bin/vendor-setup' },
        ],
      },
    ]);
    expect(s.hooks).toEqual({
      poststop: [{ path: '/usr/bin/cleanup' }, { path: '/usr/bin/vendor-release', args: ['vendor-release', '--all'], env: ['VENDOR_DEBUG=1'], timeout: 5 }],
      createRuntime: [{ path: '/usr/bin/vendor-setup' }],
    });
  });

  it('additional gids: added once each, gid 0 ignored (as the CDI reference does)', () => {
    const s = base();
    s.process!.user = { uid: 1000, gid: 1000, additionalGids: [1000] };
    applyCdiEdits(s, [{ additionalGids: [44, 0, 1000] }, { additionalGids: [44, 109] }]);
    expect(s.process!.user.additionalGids).toEqual([1000, 44, 109]);
    const bare = base();
    bare.process!.user = { uid: 1000, gid: 1000 };
    applyCdiEdits(bare, [{ additionalGids: [0] }]);
    expect(bare.process!.user.additionalGids).toBeUndefined();
  });
});

describe('malformed CDI specs name the file and the field', () => {
  const dev = (containerEdits: unknown): string => JSON.stringify({ cdiVersion: '0.6.0', kind: 'a.example/b', devices: [{ name: 'd', containerEdits }] });
  // [what, file, text, the message after `CDI spec "<file>": `]
  const cases: [string, string, string, string][] = [
    ['bad YAML', '/etc/cdi/x.yaml', 'kind: [unclosed', 'cannot parse'],
    ['bad JSON', '/etc/cdi/x.json', '{"kind":', 'cannot parse'],
    ['a list at the top', '/etc/cdi/x.json', '[]', 'not an object'],
    ['devices not a list', '/etc/cdi/x.json', '{"cdiVersion":"0.6.0","kind":"a.example/b","devices":{}}', 'devices must be a list'],
    ['a device name with a slash', '/etc/cdi/x.json', '{"cdiVersion":"0.6.0","kind":"a.example/b","devices":[{"name":"a/b"}]}', 'devices[0].name is missing or invalid'],
    ['containerEdits a string', '/etc/cdi/x.json', dev('env=1'), 'devices[0].containerEdits must be an object'],
    ['env not strings', '/etc/cdi/x.json', dev({ env: [1] }), 'devices[0].containerEdits.env must be a list of strings'],
    ['env not a list', '/etc/cdi/x.json', dev({ env: 'A=1' }), 'devices[0].containerEdits.env must be a list'],
    ['relative node path', '/etc/cdi/x.json', dev({ deviceNodes: [{ path: 'dev/x' }] }), 'devices[0].containerEdits.deviceNodes[0].path must be an absolute path'],
    ['empty hostPath', '/etc/cdi/x.json', dev({ deviceNodes: [{ path: '/dev/x', hostPath: '' }] }), 'devices[0].containerEdits.deviceNodes[0].hostPath must be a non-empty string'],
    ['node type x', '/etc/cdi/x.json', dev({ deviceNodes: [{ path: '/dev/x', type: 'x' }] }), 'devices[0].containerEdits.deviceNodes[0].type must be c, b, u or p'],
    ['negative major', '/etc/cdi/x.json', dev({ deviceNodes: [{ path: '/dev/x', major: -1 }] }), 'devices[0].containerEdits.deviceNodes[0].major must be a non-negative integer'],
    ['string minor', '/etc/cdi/x.json', dev({ deviceNodes: [{ path: '/dev/x', minor: '3' }] }), 'devices[0].containerEdits.deviceNodes[0].minor must be a non-negative integer'],
    ['fractional fileMode', '/etc/cdi/x.json', dev({ deviceNodes: [{ path: '/dev/x', fileMode: 4.5 }] }), 'devices[0].containerEdits.deviceNodes[0].fileMode must be a non-negative integer'],
    ['permissions rx', '/etc/cdi/x.json', dev({ deviceNodes: [{ path: '/dev/x', permissions: 'rx' }] }), 'devices[0].containerEdits.deviceNodes[0].permissions "rx" must be made of r, w, m'],
    ['mount a string', '/etc/cdi/x.json', dev({ mounts: ['/a:/b'] }), 'devices[0].containerEdits.mounts[0] must be an object'],
    ['mount without hostPath', '/etc/cdi/x.json', dev({ mounts: [{ containerPath: '/b' }] }), 'devices[0].containerEdits.mounts[0].hostPath must be a non-empty string'],
    ['mount type a number', '/etc/cdi/x.json', dev({ mounts: [{ hostPath: '/a', containerPath: '/b', type: 1 }] }), 'devices[0].containerEdits.mounts[0].type must be a non-empty string'],
    ['hook a string', '/etc/cdi/x.json', dev({ hooks: ['/bin/hook'] }), 'devices[0].containerEdits.hooks[0] must be an object'],
    ['hook env not strings', '/etc/cdi/x.json', dev({ hooks: [{ hookName: 'poststop', path: '/h', env: [true] }] }), 'devices[0].containerEdits.hooks[0].env must be a list of strings'],
    ['hook timeout a string', '/etc/cdi/x.json', dev({ hooks: [{ hookName: 'poststop', path: '/h', timeout: '5s' }] }), 'devices[0].containerEdits.hooks[0].timeout must be a non-negative integer'],
    ['negative gid', '/etc/cdi/x.json', dev({ additionalGids: [-5] }), 'devices[0].containerEdits.additionalGids[0] must be a non-negative integer'],
  ];
  it.each(cases)('%s', (_what, source, text, why) => {
    let err: unknown;
    try {
      parseCdiSpec(text, source);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message.startsWith(`CDI spec "${source}": ${why}`), (err as Error).message).toBe(true);
  });

  it('spec-level containerEdits are checked too, and parsed when valid', () => {
    const text = (containerEdits: unknown): string => JSON.stringify({ cdiVersion: '0.6.0', kind: 'a.example/b', devices: [], containerEdits });
    expect(() => parseCdiSpec(text({ deviceNodes: [{ path: '/dev/x', uid: -1 }] }), '/etc/cdi/x.json')).toThrow(/containerEdits\.deviceNodes\[0\]\.uid must be a non-negative integer/);
    expect(parseCdiSpec(text({ deviceNodes: [{ path: '/dev/x', type: 'u', major: 0, minor: 0, uid: 0, gid: 5 }] }), '/etc/cdi/x.json').containerEdits).toEqual({
      deviceNodes: [{ path: '/dev/x', type: 'u', major: 0, minor: 0, uid: 0, gid: 5 }],
    });
  });
});
