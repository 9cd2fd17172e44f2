import { describe, expect, it } from 'vitest';
import { formatReference, parseReference, repoTagOf } from './reference.js';
import { chainIds, sha256 } from './digest.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['user/app', 'docker.io/user/app:latest'],
    ['registry.k8s.io/pause:3.10', 'registry.k8s.io/pause:3.10'],
    ['localhost/app', 'localhost/app:latest'],
    ['127.0.0.1:5000/ns/name:tag', '127.0.0.1:5000/ns/name:tag'],
    [`127.0.0.1:5000/ns/name@${D}`, `127.0.0.1:5000/ns/name@${D}`],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`quay.io/a/b/c:v1@${D}`, `quay.io/a/b/c@${D}`],
    ['a.b-c/d__e/x.y-z:T_1.0-rc', 'a.b-c/d__e/x.y-z:T_1.0-rc'],
  ])('normalises %s to %s', (input, want) => {
    expect(formatReference(parseReference(input))).toBe(want);
  });

  it('keeps the tag but records no repo tag when a digest pins the image', () => {
    const r = parseReference(`quay.io/a/b:v1@${D}`);
    expect(r).toEqual({ registry: 'quay.io', repository: 'a/b', tag: 'v1', digest: D });
    expect(repoTagOf(r)).toBeUndefined();
    expect(repoTagOf(parseReference('busybox'))).toBe('docker.io/library/busybox:latest');
  });

  it.each([
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['busybox:', /tag ""/],
    ['busybox:-x', /tag "-x"/],
    ['busy box', /lowercase/],
    ['busybox@sha256:abc', /not a sha256 digest/],
    ['busybox@md5:' + 'a'.repeat(32), /not a sha256 digest/],
    ['a//b', /path component ""/],
    ['a/b-/c', /path component "b-"/],
    ['host:99999/x', /out of range/],
    [' busybox', /whitespace/],
    ['x'.repeat(300), /longer than 255/],
  ])('refuses %j with INVALID_ARGUMENT naming it', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
    try {
      parseReference(input);
    } catch (err) {
      expect((err as { code: string }).code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toContain(`"${input}"`);
    }
  });
});

describe('chain IDs', () => {
  it('follow the OCI definition', () => {
    const a = sha256('a');
    const b = sha256('b');
    const c = sha256('c');
    const ab = sha256(`${a} ${b}`);
    expect(chainIds([a, b, c])).toEqual([a, ab, sha256(`${ab} ${c}`)]);
    expect(chainIds([])).toEqual([]);
  });
});
