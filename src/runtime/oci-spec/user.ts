// Which uid/gid/groups a container process runs as, from the CRI security context and the image's
// User, resolved against the CONTENTS of the rootfs /etc/passwd and /etc/group (the caller reads
// them; this stays pure). Rules follow containerd: a name that is not in the files is an error, a
// numeric uid that is not in the files runs with gid 0.
import { InvalidArgumentError } from '../../lib/errors.js';
import type { SupplementalGroupsPolicy } from '../container/container-config.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Primary gid first, then groups from /etc/group (Merge policy), then the CRI supplemental groups. */
  additionalGids: number[];
  /** The passwd name of the user, when known (for logs and status). */
  username?: string;
}

export interface UserRequest {
  runAsUser?: number;
  runAsUsername?: string;
  runAsGroup?: number;
  /** The image config's User: "", "uid", "name", "uid:gid", "name:group", ... */
  imageUser?: string | null;
  supplementalGroups?: number[];
  supplementalGroupsPolicy?: SupplementalGroupsPolicy;
}

export interface UserFiles {
  /** Contents of the rootfs /etc/passwd (undefined when the image has none). */
  passwd?: string;
  group?: string;
}

const MAX_ID = 0xfffffffe; // (uid_t)-1 is "no change", never a real id

/** Parses /etc/passwd text; malformed lines are skipped as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2]!);
    const gid = parseId(f[3]!);
    if (uid === undefined || gid === undefined || f[0] === '') continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

/** Parses /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2]!);
    if (gid === undefined || f[0] === '') continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name: f[0]!, gid, members });
  }
  return out;
}

export function resolveUser(req: UserRequest, files: UserFiles): ResolvedUser {
  const passwd = files.passwd === undefined ? [] : parsePasswd(files.passwd);
  const groups = files.group === undefined ? [] : parseGroup(files.group);

  // The CRI fields win over the image; runAsGroup alone keeps the image's user part.
  let userPart: string;
  let groupPart: string | undefined;
  let source: string;
  if (req.runAsUsername) {
    userPart = req.runAsUsername;
    source = 'run_as_username';
  } else if (req.runAsUser !== undefined) {
    checkId(req.runAsUser, 'run_as_user');
    userPart = String(req.runAsUser);
    source = 'run_as_user';
  } else {
    const image = (req.imageUser ?? '').trim();
    const [u, g] = splitUser(image);
    userPart = u === '' ? '0' : u;
    groupPart = g;
    source = `image user "${image}"`;
  }
  if (req.runAsGroup !== undefined) {
    checkId(req.runAsGroup, 'run_as_group');
    groupPart = String(req.runAsGroup);
  }

  let uid: number;
  let gid = 0;
  let entry: PasswdEntry | undefined;
  const numericUid = parseId(userPart);
  if (numericUid !== undefined) {
    uid = numericUid;
    entry = passwd.find((p) => p.uid === uid);
    if (entry) gid = entry.gid;
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new InvalidArgumentError(`${source}: user "${userPart}" not found in the image's /etc/passwd`);
    }
    uid = entry.uid;
    gid = entry.gid;
  }
  if (groupPart !== undefined && groupPart !== '') {
    const numericGid = parseId(groupPart);
    if (numericGid !== undefined) gid = numericGid;
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new InvalidArgumentError(`${source}: group "${groupPart}" not found in the image's /etc/group`);
      gid = g.gid;
    }
  }

  const additional: number[] = [gid];
  const add = (g: number): void => {
    if (!additional.includes(g)) additional.push(g);
  };
  if ((req.supplementalGroupsPolicy ?? 'Merge') === 'Merge' && entry) {
    const name = entry.name;
    for (const g of groups) {
      if (g.name !== name && g.members.includes(name)) add(g.gid);
    }
  }
  for (const g of req.supplementalGroups ?? []) {
    checkId(g, 'supplemental_groups');
    add(g);
  }
  const out: ResolvedUser = { uid, gid, additionalGids: additional };
  if (entry) out.username = entry.name;
  return out;
}

function splitUser(s: string): [string, string | undefined] {
  const i = s.indexOf(':');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function checkId(n: number, field: string): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) throw new InvalidArgumentError(`${field}: ${n} is not a valid id`);
}
