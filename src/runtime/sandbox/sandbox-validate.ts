// RunPodSandbox's checks of the request before anything is built: each refusal is INVALID_ARGUMENT
// naming the field. Pure.
import { InvalidArgumentError } from '../../lib/errors.js';
import type { HostFacts } from '../container/container-config.js';
import type { RuntimeHandler } from '../engine/runtime-handlers.js';
import { cgroupsPathFor } from '../oci-spec/resources.js';
import { podUserns, validatePodUserns } from '../oci-spec/userns.js';
import { validateSysctls } from './pod-files.js';
import type { SandboxConfig } from './sandbox-config.js';

export function validateSandboxConfig(c: SandboxConfig, host: Pick<HostFacts, 'cgroupDriver'>): void {
  const m = c.metadata;
  if (m.name === '') throw new InvalidArgumentError('pod sandbox metadata.name is required');
  if (m.namespace === '') throw new InvalidArgumentError('pod sandbox metadata.namespace is required');
  if (m.uid === '') throw new InvalidArgumentError('pod sandbox metadata.uid is required');
  // They travel to CNI plugins in CNI_ARGS ("K=V;K=V"): a ";" or "=" broke the plugin's parsing
  // (INTERNAL "invalid pair"), and Kubernetes never sends one (nor NUL or control characters).
  for (const [field, v] of [['name', m.name], ['namespace', m.namespace], ['uid', m.uid]] as const) {
    const bad = [...v].find((ch) => ch === ';' || ch === '=' || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
    if (bad !== undefined) throw new InvalidArgumentError(`pod sandbox metadata.${field} ${JSON.stringify(v.slice(0, 256))} contains ${JSON.stringify(bad)}, which is not allowed (it could not be passed to CNI plugins)`);
  }
  validateSysctls(c.sysctls, c.namespaceOptions);
  for (const [k, v] of Object.entries(c.namespaceOptions)) {
    if (v === 'TARGET') throw new InvalidArgumentError(`pod sandbox namespace option ${k}: TARGET is only valid for containers`);
  }
  if (c.namespaceOptions.network === 'CONTAINER' || c.namespaceOptions.ipc === 'CONTAINER') {
    throw new InvalidArgumentError('pod sandbox network/ipc namespace mode must be POD or NODE');
  }
  cgroupsPathFor(host.cgroupDriver, c.cgroupParent, 'x'); // throws InvalidArgument naming the parent
  for (const p of c.portMappings) {
    if (p.containerPort <= 0 || p.containerPort > 65535) throw new InvalidArgumentError(`port mapping: container_port ${p.containerPort} is out of range`);
    if (p.hostPort < 0 || p.hostPort > 65535) throw new InvalidArgumentError(`port mapping: host_port ${p.hostPort} is out of range`);
  }
  if (c.hostname.length > 64) throw new InvalidArgumentError(`pod sandbox hostname "${c.hostname}" is longer than 64 characters`);
  validatePodUserns(c.namespaceOptions.userns);
  if (podUserns(c.namespaceOptions)) {
    // As Kubernetes validates hostUsers: false: the host's namespaces belong to the host's root.
    for (const k of ['network', 'pid', 'ipc'] as const) {
      if (c.namespaceOptions[k] === 'NODE') throw new InvalidArgumentError(`pod sandbox namespace_options.${k} NODE cannot be combined with its own user namespace (namespace_options.userns_options mode POD)`);
    }
  }
}

/** A pod with its own user namespace needs a handler that offers them (Status says which do). */
export function validateUsernsHandler(c: SandboxConfig, handler: Pick<RuntimeHandler, 'name' | 'features' | 'usernsUnsupported'>): void {
  if (!podUserns(c.namespaceOptions) || handler.features.userNamespaces) return;
  throw new InvalidArgumentError(
    `namespace_options.userns_options: runtime handler "${handler.name}" does not support user namespaces${handler.usernsUnsupported ? ` (${handler.usernsUnsupported})` : ''}`,
  );
}
