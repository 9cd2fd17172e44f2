// The CRI socket's group (config `socketGroup`): the socket is 0660, so its group is who may use
// it besides root, e.g. the node agent running as a non-root user with that supplementary group.
import { chown, readFile } from 'node:fs/promises';
import { ConfigError } from '../lib/errors.js';

/** A numeric gid as is, or a name looked up in `groupFile` (/etc/group format). */
export async function resolveGroup(group: string, groupFile = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await readFile(groupFile, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ConfigError(`socketGroup "${group}": no such group in ${groupFile}`);
}

/** Gives the socket to `group` ('' = leave it with the daemon's own group). */
export async function applySocketGroup(socket: string, group: string): Promise<void> {
  if (group === '') return;
  await chown(socket, -1, await resolveGroup(group));
}
