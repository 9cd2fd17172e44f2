// The deprecated string forms of CRI's seccomp_profile_path / apparmor_profile, still sent by
// older kubelets, mapped to the structured SecurityProfile the builders take.
import { InvalidArgumentError } from '../../lib/errors.js';
import type { SecurityProfile } from '../container/container-config.js';

/**
 * "" -> undefined (not set); "runtime/default" / "docker/default" -> RuntimeDefault;
 * "unconfined" -> Unconfined; "localhost/<ref>" -> Localhost. Anything else is InvalidArgument.
 */
export function legacySecurityProfile(value: string, field: string): SecurityProfile | undefined {
  if (value === '') return undefined;
  if (value === 'runtime/default' || value === 'docker/default') return { profileType: 'RuntimeDefault' };
  if (value === 'unconfined') return { profileType: 'Unconfined' };
  if (value.startsWith('localhost/') && value.length > 'localhost/'.length) {
    return { profileType: 'Localhost', localhostRef: value.slice('localhost/'.length) };
  }
  throw new InvalidArgumentError(`${field}: "${value}" is not runtime/default, unconfined or localhost/<profile>`);
}
