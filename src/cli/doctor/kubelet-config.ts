// The few fields of the kubelet's KubeletConfiguration file the doctor compares with nexcage's.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isErrno } from '../../lib/errors.js';

export interface KubeletFacts {
  found: boolean;
  error?: string;
  cgroupDriver?: string;
  containerRuntimeEndpoint?: string;
}

export function readKubeletConfig(path: string): KubeletFacts {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return isErrno(err, 'ENOENT') ? { found: false } : { found: false, error: (err as Error).message };
  }
  let doc: Record<string, unknown>;
  try {
    doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
  } catch (err) {
    return { found: true, error: `not valid YAML: ${(err as Error).message}` };
  }
  const facts: KubeletFacts = { found: true };
  if (typeof doc.cgroupDriver === 'string') facts.cgroupDriver = doc.cgroupDriver;
  if (typeof doc.containerRuntimeEndpoint === 'string') facts.containerRuntimeEndpoint = doc.containerRuntimeEndpoint;
  return facts;
}
