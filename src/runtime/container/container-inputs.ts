// Container inputs derived from the pod and the request: the sandbox facts the OCI spec builder
// needs, where the CRI log goes, and the stop signal in the form the OCI runtime's kill takes.
import { isAbsolute, join } from 'node:path';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { SandboxFacts } from './container-config.js';
import type { Sandbox } from '../sandbox/sandbox-config.js';
import { podUserns } from '../oci-spec/userns.js';

export function sandboxFacts(s: Sandbox): SandboxFacts {
  return {
    id: s.id,
    name: s.metadata.name,
    namespace: s.metadata.namespace,
    uid: s.metadata.uid,
    ...(s.netnsPath ? { netnsPath: s.netnsPath } : {}),
    infraPid: s.pid,
    namespaceOptions: { network: s.namespaceOptions.network, pid: s.namespaceOptions.pid, ipc: s.namespaceOptions.ipc },
    cgroupParent: s.cgroupParent,
    hostname: s.hostname,
    hostsPath: s.hostsPath,
    resolvConfPath: s.resolvConfPath,
    hostnamePath: s.hostnamePath,
    ...(s.shmPath ? { shmPath: s.shmPath } : {}),
    privileged: s.security.privileged,
    ...(podUserns(s.namespaceOptions) ? { userns: podUserns(s.namespaceOptions) } : {}),
  };
}

/** CRI log_path is relative to the pod's log_directory; '' = no log. */
export function resolveLogPath(logDirectory: string, logPath: string): string {
  if (logPath === '') return '';
  if (isAbsolute(logPath)) return logPath;
  if (logDirectory === '') throw new InvalidArgumentError(`log_path "${logPath}" is relative but the pod sandbox has no log_directory`);
  const full = join(logDirectory, logPath);
  if (!full.startsWith(logDirectory.replace(/\/+$/, '') + '/')) throw new InvalidArgumentError(`log_path "${logPath}" escapes the pod's log directory`);
  return full;
}

const RT_MIN = 34;
const RT_MAX = 64;

/** A signal name as runc's kill takes it: SIGTERM, a number, or the CRI SIGRTMINPLUSn/SIGRTMAXMINUSn names as numbers. */
export function normalizeSignal(s: string): string {
  const v = s.trim().toUpperCase();
  if (/^\d+$/.test(v)) return v;
  const plus = /^SIGRTMINPLUS(\d+)$/.exec(v);
  if (plus) return String(RT_MIN + Number(plus[1]));
  const minus = /^SIGRTMAXMINUS(\d+)$/.exec(v);
  if (minus) return String(RT_MAX - Number(minus[1]));
  if (v === 'SIGRTMIN' || v === 'RTMIN') return String(RT_MIN);
  if (v === 'SIGRTMAX' || v === 'RTMAX') return String(RT_MAX);
  if (!/^(SIG)?[A-Z0-9]+$/.test(v)) throw new InvalidArgumentError(`stop signal "${s}" is not a signal name`);
  return v.startsWith('SIG') ? v : `SIG${v}`;
}
