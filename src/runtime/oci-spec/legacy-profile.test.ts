import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { legacySecurityProfile } from './legacy-profile.js';

describe('deprecated profile strings', () => {
  it.each([
    ['', undefined],
    ['runtime/default', { profileType: 'RuntimeDefault' }],
    ['docker/default', { profileType: 'RuntimeDefault' }],
    ['unconfined', { profileType: 'Unconfined' }],
    ['localhost//var/lib/kubelet/seccomp/audit.json', { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/audit.json' }],
    ['localhost/my-apparmor', { profileType: 'Localhost', localhostRef: 'my-apparmor' }],
  ])('%j', (value, want) => {
    expect(legacySecurityProfile(value, 'seccomp_profile_path')).toEqual(want);
  });

  it('anything else is InvalidArgument naming the field', () => {
    expect(() => legacySecurityProfile('bogus', 'seccomp_profile_path')).toThrow(InvalidArgumentError);
    expect(() => legacySecurityProfile('localhost/', 'apparmor_profile')).toThrow(/apparmor_profile: "localhost\/"/);
  });
});
