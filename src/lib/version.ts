// nexcage's own version, read once from package.json at the package root.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root: the nearest directory above this module that holds package.json. */
export function packageRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`package.json not found above ${import.meta.dirname}`);
    dir = up;
  }
  return dir;
}

let cached: string | undefined;
export function nexcageVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}

/** The CRI `version` field: the API version nexcage speaks, as containerd and CRI-O report it. */
export const CRI_VERSION = '0.1.0';
export const RUNTIME_NAME = 'nexcage';
export const RUNTIME_API_VERSION = 'v1';
