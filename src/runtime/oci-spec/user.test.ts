import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { parseGroup, parsePasswd, resolveUser } from './user.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'broken line',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');
const group = [
  'root:x:0:',
  'wheel:x:10:root,app',
  'app:x:1000:app',
  'audio:x:29:app, daemon',
  'staff:x:50:',
  'nogroup:x:65534:',
].join('\n');
const files = { passwd, group };

describe('passwd/group parsing', () => {
  it('reads entries and skips comments and malformed lines', () => {
    expect(parsePasswd(passwd).map((p) => p.name)).toEqual(['root', 'daemon', 'app', 'nobody']);
    expect(parsePasswd(passwd)[2]).toEqual({ name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/bin/sh' });
    expect(parseGroup(group).find((g) => g.name === 'audio')?.members).toEqual(['app', 'daemon']);
  });
});

describe('user resolution', () => {
  it.each([
    ['', { uid: 0, gid: 0, additionalGids: [0, 10], username: 'root' }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], username: 'app' }],
    ['app', { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], username: 'app' }],
    ['1000:50', { uid: 1000, gid: 50, additionalGids: [50, 10, 29], username: 'app' }],
    ['app:staff', { uid: 1000, gid: 50, additionalGids: [50, 10, 29], username: 'app' }],
    ['daemon:50', { uid: 1, gid: 50, additionalGids: [50, 29], username: 'daemon' }],
    ['4242', { uid: 4242, gid: 0, additionalGids: [0] }],
    ['4242:4343', { uid: 4242, gid: 4343, additionalGids: [4343] }],
  ])('image User %j', (imageUser, want) => {
    expect(resolveUser({ imageUser }, files)).toEqual(want);
  });

  it('a numeric image user works without any /etc/passwd', () => {
    expect(resolveUser({ imageUser: '123:456' }, {})).toEqual({ uid: 123, gid: 456, additionalGids: [456] });
    expect(resolveUser({ imageUser: null }, {})).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it('a name that does not exist is InvalidArgument naming it', () => {
    expect(() => resolveUser({ imageUser: 'ghost' }, files)).toThrow(InvalidArgumentError);
    expect(() => resolveUser({ imageUser: 'ghost' }, files)).toThrow(`image user "ghost": user "ghost" not found in the image's /etc/passwd`);
    expect(() => resolveUser({ imageUser: 'app:ghosts' }, files)).toThrow(`group "ghosts" not found in the image's /etc/group`);
    expect(() => resolveUser({ runAsUsername: 'ghost' }, files)).toThrow(/run_as_username: user "ghost" not found/);
    expect(() => resolveUser({ imageUser: 'app' }, {})).toThrow(/not found/);
  });

  it('run_as_user overrides the image user and takes the passwd gid', () => {
    expect(resolveUser({ runAsUser: 1000, imageUser: 'daemon' }, files)).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], username: 'app' });
    expect(resolveUser({ runAsUser: 5000, imageUser: 'app' }, files)).toEqual({ uid: 5000, gid: 0, additionalGids: [0] });
  });

  it('run_as_group overrides the primary group of CRI and image users', () => {
    expect(resolveUser({ runAsUser: 1000, runAsGroup: 3000 }, files)).toMatchObject({ uid: 1000, gid: 3000, additionalGids: [3000, 10, 29] });
    expect(resolveUser({ imageUser: 'app:staff', runAsGroup: 3000 }, files)).toMatchObject({ uid: 1000, gid: 3000 });
    expect(resolveUser({ runAsUsername: 'app', runAsGroup: 7 }, files)).toMatchObject({ uid: 1000, gid: 7 });
  });

  it('run_as_username resolves through /etc/passwd', () => {
    expect(resolveUser({ runAsUsername: 'nobody', runAsUser: 3 }, files)).toEqual({
      uid: 65534,
      gid: 65534,
      additionalGids: [65534],
      username: 'nobody',
    });
  });

  it('Merge adds /etc/group memberships and the CRI supplemental groups, without duplicates', () => {
    expect(resolveUser({ runAsUser: 1000, supplementalGroups: [29, 5000, 1000] }, files).additionalGids).toEqual([1000, 10, 29, 5000]);
  });

  it('Strict ignores /etc/group memberships', () => {
    expect(
      resolveUser({ runAsUser: 1000, supplementalGroups: [5000], supplementalGroupsPolicy: 'Strict' }, files).additionalGids,
    ).toEqual([1000, 5000]);
  });

  it('rejects negative or out of range ids', () => {
    expect(() => resolveUser({ runAsUser: -1 }, files)).toThrow(/run_as_user: -1 is not a valid id/);
    expect(() => resolveUser({ runAsUser: 0, runAsGroup: 2 ** 32 }, files)).toThrow(/run_as_group/);
    expect(() => resolveUser({ runAsUser: 0, supplementalGroups: [-5] }, files)).toThrow(/supplemental_groups/);
  });
});
