// The small C helpers built by `make build` into dist/native (see native/*.c): found from either
// the built tree (dist/src/runtime/streaming) or the sources (tests run from src/).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findNativeHelper(name: 'nexcage-pty' | 'nexcage-attach' | 'nexcage-dial'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../../native', name), resolve(here, '../../../dist/native', name)];
  return candidates.find((c) => existsSync(c)) ?? (candidates[0] as string);
}
