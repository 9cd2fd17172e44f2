// The small C helpers built by `make build` into dist/native (see native/*.c), each doing what
// Node cannot call itself: found from either the built tree (dist/src/lib) or the sources (tests
// run from src/).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type NativeHelper = 'nexcage-pty' | 'nexcage-attach' | 'nexcage-dial' | 'nexcage-idmap' | 'nexcage-netns' | 'nexcage-mount' | 'nexcage-pageout';

function candidates(name: NativeHelper): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [resolve(here, '../../native', name), resolve(here, '../../dist/native', name)];
}

/** The helper's path; when it is not built, where it would be (spawning it then fails with ENOENT). */
export function findNativeHelper(name: NativeHelper): string {
  const all = candidates(name);
  return all.find((c) => existsSync(c)) ?? (all[1] as string);
}

/** The helper's path, or undefined when it is not built (callers with a fallback). */
export function nativeHelperIfBuilt(name: NativeHelper): string | undefined {
  return candidates(name).find((c) => existsSync(c));
}
