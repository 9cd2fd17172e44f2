// The CRI socket: a socket (not a leftover file), 0660, owned by root and the configured group, in
// a directory only root can write, and answered by a daemon.
import { connect } from 'node:net';
import { lstat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isErrno } from '../../lib/errors.js';
import { resolveGroup } from '../../daemon/socket-group.js';
import { fail, ok, warn, type Check } from './check.js';

export const socketCheck: Check = async (ctx) => {
  const path = ctx.config.socket.replace(/^unix:\/\//, '');
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [warn('socket', `no socket at ${path}: the daemon is not running`, 'systemctl enable --now nexcage (or nexcage serve)')];
    return [fail('socket', `${path}: ${(err as Error).message}`, 'check the path and its directory')];
  }
  if (!st.isSocket()) return [fail('socket', `${path} exists and is not a socket: the daemon will refuse to start`, `remove ${path}`)];
  const mode = st.mode & 0o777;
  if (mode & 0o007) return [fail('socket', `${path} has mode ${mode.toString(8)}: every local user can control the runtime`, `chmod 0660 ${path} (the daemon sets 0660 when it starts)`)];
  if (st.uid !== 0) return [warn('socket', `${path} is owned by uid ${st.uid}, not root`, 'run the daemon as root')];
  const dir = await lstat(dirname(path));
  if (dir.mode & 0o022 && !(dir.mode & 0o1000)) return [fail('socket', `${dirname(path)} is writable by group or others: the socket can be replaced`, `chmod 0755 ${dirname(path)}`)];
  if (ctx.config.socketGroup !== '') {
    const gid = await resolveGroup(ctx.config.socketGroup, `${ctx.host.root.replace(/\/$/, '')}/etc/group`).catch(() => undefined);
    if (gid === undefined) return [fail('socket', `socketGroup "${ctx.config.socketGroup}" does not exist`, `create the group or fix socketGroup in the config`)];
    if (st.gid !== gid) return [warn('socket', `${path} has group ${st.gid}, not socketGroup ${ctx.config.socketGroup} (${gid})`, 'restart the daemon to apply socketGroup')];
  }
  if (!(await answers(path))) return [warn('socket', `${path} (mode ${mode.toString(8)}) exists but nothing answers: a daemon that died`, 'systemctl restart nexcage')];
  return [ok('socket', `${path}: mode ${mode.toString(8)}, uid ${st.uid}, gid ${st.gid}, daemon answering`)];
};

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(2000, () => done(false));
  });
}
