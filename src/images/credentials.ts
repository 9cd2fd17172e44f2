// Registry credentials: from the CRI AuthConfig of one pull, or from a docker-style config.json
// (`{"auths": {"host": {"auth": base64(user:pass)}}}`) named in the daemon config.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, isErrno } from '../lib/errors.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker "identitytoken"): exchanged for a bearer token. */
  identityToken?: string;
  /** A bearer token used as is (docker "registrytoken"). */
  registryToken?: string;
  /** Host the credentials are meant for; empty = whatever host the image is on. */
  serverAddress?: string;
}

/** Field names of the CRI AuthConfig, already mapped out of protobuf by src/cri. */
export interface AuthInput {
  username: string;
  password: string;
  auth: string;
  serverAddress: string;
  identityToken: string;
  registryToken: string;
}

export function credentialsFromAuth(a: AuthInput): Credentials | undefined {
  const c: Credentials = {};
  if (a.username !== '' || a.password !== '') {
    c.username = a.username;
    c.password = a.password;
  } else if (a.auth !== '') {
    Object.assign(c, decodeAuth(a.auth, 'auth.auth'));
  }
  if (a.identityToken !== '') c.identityToken = a.identityToken;
  if (a.registryToken !== '') c.registryToken = a.registryToken;
  if (Object.keys(c).length === 0) return undefined;
  if (a.serverAddress !== '') c.serverAddress = normaliseHost(a.serverAddress);
  return c;
}

function decodeAuth(auth: string, what: string): { username: string; password: string } {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) throw new InvalidArgumentError(`${what}: not base64 of "username:password"`);
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** `https://index.docker.io/v1/` -> `docker.io`; `http://host:5000/` -> `host:5000`. */
export function normaliseHost(address: string): string {
  let h = address.replace(/^[a-z]+:\/\//, '');
  h = h.split('/')[0] as string;
  if (h === 'index.docker.io' || h === 'registry-1.docker.io') return 'docker.io';
  return h;
}

/** Do these credentials apply to a request to `host`? Unscoped ones apply to the image's own registry only. */
export function credentialsFor(c: Credentials | undefined, host: string, imageRegistry: string): Credentials | undefined {
  if (!c) return undefined;
  if (c.serverAddress) return c.serverAddress === host ? c : undefined;
  return host === imageRegistry ? c : undefined;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }>;
}

/** The credentials file, re-read when it changes on disk (checked by mtime on every pull). */
export class CredentialsFile {
  private cache: { mtimeMs: number; byHost: Map<string, Credentials> } | undefined;
  constructor(readonly path: string) {}

  async lookup(host: string): Promise<Credentials | undefined> {
    if (this.path === '') return undefined;
    const byHost = await this.load();
    return byHost.get(host);
  }

  private async load(): Promise<Map<string, Credentials>> {
    const { stat } = await import('node:fs/promises');
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(this.path)).mtimeMs;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return new Map();
      throw err;
    }
    if (this.cache?.mtimeMs === mtimeMs) return this.cache.byHost;
    const text = await readFile(this.path, 'utf8');
    let doc: DockerConfigFile;
    try {
      doc = JSON.parse(text) as DockerConfigFile;
    } catch (err) {
      throw new InvalidArgumentError(`registry credentials file ${this.path}: not JSON: ${(err as Error).message}`);
    }
    const byHost = new Map<string, Credentials>();
    for (const [key, e] of Object.entries(doc.auths ?? {})) {
      const c: Credentials = {};
      if (e.username) {
        c.username = e.username;
        c.password = e.password ?? '';
      } else if (e.auth) {
        Object.assign(c, decodeAuth(e.auth, `registry credentials file ${this.path} entry "${key}"`));
      }
      if (e.identitytoken) c.identityToken = e.identitytoken;
      if (e.registrytoken) c.registryToken = e.registrytoken;
      byHost.set(normaliseHost(key), c);
    }
    this.cache = { mtimeMs, byHost };
    return byHost;
  }
}
