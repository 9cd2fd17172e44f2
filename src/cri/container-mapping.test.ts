import { describe, expect, it } from 'vitest';
import type { ContainerConfig__Output } from './generated/runtime/v1/ContainerConfig.js';
import { containerConfigFromProto, containerFilterFromProto } from './container-mapping.js';

function cfg(extra: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  return {
    metadata: { name: 'web', attempt: 2 },
    image: { image: 'busybox', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' },
    command: ['sh'],
    args: ['-c', 'true'],
    working_dir: '/w',
    envs: [{ key: 'A', value: Buffer.from('1') }],
    mounts: [],
    devices: [],
    labels: { l: '1' },
    annotations: {},
    log_path: 'web/2.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...extra,
  };
}

describe('containerConfigFromProto', () => {
  it('maps the basic fields and decodes env values', () => {
    const c = containerConfigFromProto(cfg());
    expect(c.metadata).toEqual({ name: 'web', attempt: 2 });
    expect(c.command).toEqual(['sh']);
    expect(c.args).toEqual(['-c', 'true']);
    expect(c.envs).toEqual([{ key: 'A', value: '1' }]);
    expect(c.stopSignal).toBeUndefined();
    expect(c.linux).toBeUndefined();
  });

  it('maps the security context: users, groups, caps, namespaces, legacy profile strings', () => {
    const c = containerConfigFromProto(
      cfg({
        stop_signal: 'SIGUSR1',
        linux: {
          resources: null,
          security_context: {
            capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'], add_ambient_capabilities: [] },
            privileged: false,
            namespace_options: { network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: 'abc', userns_options: null },
            selinux_options: null,
            run_as_user: { value: '1000' },
            run_as_username: '',
            readonly_rootfs: true,
            supplemental_groups: ['5', '6'],
            apparmor_profile: '',
            seccomp_profile_path: 'runtime/default',
            no_new_privs: true,
            run_as_group: { value: '7' },
            masked_paths: [],
            readonly_paths: [],
            seccomp: null,
            apparmor: null,
            supplemental_groups_policy: 'Strict',
          },
        },
      }),
    );
    const sc = c.linux?.securityContext;
    expect(c.stopSignal).toBe('SIGUSR1');
    expect(sc?.runAsUser).toBe(1000);
    expect(sc?.runAsGroup).toBe(7);
    expect(sc?.supplementalGroups).toEqual([5, 6]);
    expect(sc?.supplementalGroupsPolicy).toBe('Strict');
    expect(sc?.capabilities?.dropCapabilities).toEqual(['ALL']);
    expect(sc?.namespaceOptions).toEqual({ network: 'POD', pid: 'TARGET', ipc: 'POD', targetId: 'abc' });
    expect(sc?.seccomp).toEqual({ profileType: 'RuntimeDefault' });
    expect(sc?.readonlyRootfs).toBe(true);
  });

  it('refuses a config without metadata or image', () => {
    expect(() => containerConfigFromProto(null)).toThrow(/config is required/);
    expect(() => containerConfigFromProto(cfg({ metadata: null }))).toThrow(/metadata is required/);
  });
});

describe('containerFilterFromProto', () => {
  it('maps state names and drops empty fields', () => {
    expect(containerFilterFromProto({ id: '', state: { state: 'CONTAINER_EXITED' }, pod_sandbox_id: 'p', label_selector: {} })).toEqual({ state: 'EXITED', podSandboxId: 'p' });
    expect(containerFilterFromProto(null)).toEqual({});
  });
});
