// User namespaces of pods (hostUsers: false): the pod's mappings as the spec builders and the
// steps use them, and the checks of a pod's and a container's user namespace options. Pure.
import { InvalidArgumentError } from '../../lib/errors.js';
import type { IdMapping, IdMappings, UserNamespaceOption } from '../container/container-config.js';
import type { IdMapping as OciIdMapping } from './types.js';

const FIELD = 'namespace_options.userns_options';
/** Ids are 32-bit; (uid_t)-1 is never a valid id. */
const MAX_ID = 0xffffffff;

/** The mappings of a pod's own user namespace; undefined when the pod uses the host's (NODE or unset). */
export function podUserns(ns: { userns?: UserNamespaceOption | undefined }): IdMappings | undefined {
  const u = ns.userns;
  return u && u.mode === 'POD' ? { uids: u.uids, gids: u.gids } : undefined;
}

/** The host id a container id maps to, undefined when it is not mapped. */
export function toHostId(mappings: readonly IdMapping[], id: number): number | undefined {
  const m = mappings.find((r) => id >= r.containerId && id < r.containerId + r.length);
  return m ? m.hostId + (id - m.containerId) : undefined;
}

/** Host uid and gid of the container's root (owner of what the pod's root must own on the host). */
export function hostRoot(m: IdMappings): { uid: number; gid: number } {
  const uid = toHostId(m.uids, 0);
  const gid = toHostId(m.gids, 0);
  if (uid === undefined || gid === undefined) throw new InvalidArgumentError(`${FIELD}: container id 0 is not mapped`);
  return { uid, gid };
}

export function ociMappings(ms: readonly IdMapping[]): OciIdMapping[] {
  return ms.map((m) => ({ containerID: m.containerId, hostID: m.hostId, size: m.length }));
}

export function sameMappings(a: IdMappings, b: IdMappings): boolean {
  const eq = (x: readonly IdMapping[], y: readonly IdMapping[]): boolean =>
    x.length === y.length && x.every((m, i) => m.containerId === y[i]?.containerId && m.hostId === y[i]?.hostId && m.length === y[i]?.length);
  return eq(a.uids, b.uids) && eq(a.gids, b.gids);
}

/** Whether two pods' host id ranges (uids or gids) share an id. */
export function hostRangesOverlap(a: IdMappings, b: IdMappings): boolean {
  const overlap = (x: readonly IdMapping[], y: readonly IdMapping[]): boolean =>
    x.some((m) => y.some((n) => m.hostId < n.hostId + n.length && n.hostId < m.hostId + m.length));
  return overlap(a.uids, b.uids) || overlap(a.gids, b.gids);
}

export function describeMappings(m: IdMappings): string {
  const one = (ms: readonly IdMapping[]): string => ms.map((r) => `${r.containerId}:${r.hostId}:${r.length}`).join(',');
  return `uids ${one(m.uids)}, gids ${one(m.gids)}`;
}

/**
 * A pod's user namespace options as containerd and CRI-O accept them: unset or NODE = the host's
 * (no mappings), POD = exactly one uid and one gid mapping that maps container id 0 (and not onto
 * host root); CONTAINER and TARGET do not exist for user namespaces. Each refusal names the field.
 */
export function validatePodUserns(u: UserNamespaceOption | undefined): void {
  if (!u) return;
  switch (u.mode) {
    case 'NODE':
      if (u.uids.length > 0 || u.gids.length > 0) {
        throw new InvalidArgumentError(`${FIELD}: mode NODE (the host's user namespace) takes no mappings, got ${u.uids.length} uid and ${u.gids.length} gid mapping(s)`);
      }
      return;
    case 'POD':
      checkRanges(u.uids, `${FIELD}.uids`);
      checkRanges(u.gids, `${FIELD}.gids`);
      return;
    case 'CONTAINER':
    case 'TARGET':
      throw new InvalidArgumentError(`${FIELD}.mode ${u.mode} is not supported: a user namespace is the pod's own (POD) or the host's (NODE)`);
    default:
      throw new InvalidArgumentError(`${FIELD}.mode: unknown value ${JSON.stringify(u.mode)}`);
  }
}

function checkRanges(ms: readonly IdMapping[], field: string): void {
  if (ms.length !== 1) throw new InvalidArgumentError(`${field}: exactly one mapping is supported, got ${ms.length}`);
  const m = ms[0] as IdMapping;
  for (const [k, v] of [['container_id', m.containerId], ['host_id', m.hostId], ['length', m.length]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_ID) throw new InvalidArgumentError(`${field}[0].${k}: ${v} is not a valid id`);
  }
  if (m.length === 0) throw new InvalidArgumentError(`${field}[0].length must be at least 1`);
  if (m.containerId !== 0) throw new InvalidArgumentError(`${field}[0]: container id 0 must be mapped (the mapping starts at container_id ${m.containerId})`);
  if (m.hostId + m.length > MAX_ID) throw new InvalidArgumentError(`${field}[0]: host ids ${m.hostId}..${m.hostId + m.length - 1} go past the largest id`);
  if (m.hostId === 0) throw new InvalidArgumentError(`${field}[0]: the range must not include host id 0 (the host's root)`);
}

/**
 * A container's own user namespace options must agree with its pod's: unset follows the pod, POD
 * needs the pod's namespace with the same mappings, NODE needs a pod on the host's.
 */
export function checkContainerUserns(u: UserNamespaceOption | undefined, pod: IdMappings | undefined, what: string): void {
  if (!u) return;
  const field = `${what}: ${FIELD}`;
  switch (u.mode) {
    case 'NODE':
      if (pod) throw new InvalidArgumentError(`${field}: mode NODE, but the pod sandbox has its own user namespace (a container always shares its pod's)`);
      return;
    case 'POD':
      if (!pod) throw new InvalidArgumentError(`${field}: mode POD, but the pod sandbox runs in the host's user namespace`);
      if (!sameMappings({ uids: u.uids, gids: u.gids }, pod)) {
        throw new InvalidArgumentError(`${field}: mappings (${describeMappings(u)}) differ from the pod sandbox's (${describeMappings(pod)})`);
      }
      return;
    default:
      throw new InvalidArgumentError(`${field}.mode ${String(u.mode)} is not supported: a container shares its pod's user namespace`);
  }
}
