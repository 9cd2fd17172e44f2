// Reads CDI spec files from the spec directories and completes device nodes from the host
// (type, major/minor, mode of the node), so cdi.ts can stay pure.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, errorMessage, isErrno } from '../../lib/errors.js';
import { parseCdiSpec, type CdiContainerEdits, type CdiSpec } from './cdi.js';
import { statDevice } from './device-info.js';

/** Static specs first, then dynamic ones (which win on the same device name). */
export const DEFAULT_CDI_DIRS = ['/etc/cdi', '/var/run/cdi'];

export interface LoadedCdiSpecs {
  specs: CdiSpec[];
  /** Files that could not be parsed (skipped, as the CDI spec asks; the caller logs them). */
  errors: string[];
}

export async function loadCdiSpecs(dirs: readonly string[] = DEFAULT_CDI_DIRS): Promise<LoadedCdiSpecs> {
  const specs: CdiSpec[] = [];
  const errors: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.(json|ya?ml)$/.test(n)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
      throw err;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        specs.push(parseCdiSpec(await readFile(path, 'utf8'), path));
      } catch (err) {
        errors.push(errorMessage(err));
      }
    }
  }
  return { specs, errors };
}

/** Copies of the edits with every device node's missing type/major/minor/fileMode read from the host node. */
export async function completeDeviceNodes(all: readonly CdiContainerEdits[]): Promise<CdiContainerEdits[]> {
  const out: CdiContainerEdits[] = [];
  for (const e of all) {
    if (!e.deviceNodes) {
      out.push(e);
      continue;
    }
    const nodes = [];
    for (const n of e.deviceNodes) {
      if (n.type !== undefined && n.major !== undefined && n.minor !== undefined) {
        nodes.push(n);
        continue;
      }
      const hostPath = n.hostPath ?? n.path;
      const host = await statDevice(hostPath).catch((err: unknown) => {
        throw new InvalidArgumentError(`CDI device node "${hostPath}": ${isErrno(err, 'ENOENT') ? 'does not exist' : errorMessage(err)}`, { cause: err });
      });
      if (!host) throw new InvalidArgumentError(`CDI device node "${hostPath}": not a character or block device`);
      nodes.push({ ...n, type: n.type ?? host.type, major: n.major ?? host.major, minor: n.minor ?? host.minor, fileMode: n.fileMode ?? host.fileMode });
    }
    out.push({ ...e, deviceNodes: nodes });
  }
  return out;
}
