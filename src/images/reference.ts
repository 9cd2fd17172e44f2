// Image references as the kubelet and containerd spell them: `busybox` is
// `docker.io/library/busybox:latest`; `host:port/ns/name:tag@sha256:...` keeps its host.
import { InvalidArgumentError } from '../lib/errors.js';
import { isDigest } from './digest.js';

export const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_REGISTRIES = new Set(['index.docker.io', 'registry-1.docker.io']);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_PART = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const MAX_NAME = 255;

export interface ImageReference {
  /** Registry host as written (`docker.io`, `127.0.0.1:5000`, `registry.k8s.io`). */
  registry: string;
  /** Repository path inside the registry (`library/busybox`). */
  repository: string;
  tag?: string;
  digest?: string;
}

/** `docker.io/library/busybox` */
export function repoName(r: ImageReference): string {
  return `${r.registry}/${r.repository}`;
}

/** The normalised string: `name:tag`, or `name@digest` when pulled by digest. */
export function formatReference(r: ImageReference): string {
  if (r.digest) return `${repoName(r)}@${r.digest}`;
  return `${repoName(r)}:${r.tag ?? 'latest'}`;
}

/** A repo tag (`name:tag`) when the reference names a tag and no digest, else undefined. */
export function repoTagOf(r: ImageReference): string | undefined {
  return r.digest ? undefined : `${repoName(r)}:${r.tag ?? 'latest'}`;
}

/**
 * Parse and normalise. A missing tag becomes `latest` unless a digest is given; Docker Hub
 * single names get `library/`. Throws InvalidArgumentError naming the reference and the problem.
 */
export function parseReference(input: string): ImageReference {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`image reference "${input}" is invalid: ${why}`);
  };
  if (input === '') bad('it is empty');
  if (input !== input.trim()) bad('it has surrounding whitespace');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) bad(`"${digest}" is not a sha256 digest (sha256:<64 hex>)`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (rest === '') bad('the repository name is empty');
  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  const first = parts[0] as string;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    parts.shift();
    checkDomain(registry, bad);
  }
  if (LEGACY_REGISTRIES.has(registry)) registry = DEFAULT_REGISTRY;
  for (const p of parts) {
    if (!COMPONENT.test(p)) bad(`path component "${p}" must be lowercase letters, digits and single separators (. _ __ -)`);
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (`${registry}/${repository}`.length > MAX_NAME) bad(`the name is longer than ${MAX_NAME} characters`);
  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  else if (tag === undefined) ref.tag = 'latest';
  return ref;
}

function checkDomain(host: string, bad: (why: string) => never): void {
  let name = host;
  const m = /^(.*):(\d+)$/.exec(host);
  if (m) {
    name = m[1] as string;
    if (Number(m[2]) > 65535 || Number(m[2]) === 0) bad(`port in "${host}" is out of range`);
  }
  if (/^\[[0-9a-fA-F:]+\]$/.test(name)) return;
  if (!name.split('.').every((p) => DOMAIN_PART.test(p))) bad(`registry host "${host}" is not a valid host name`);
}
