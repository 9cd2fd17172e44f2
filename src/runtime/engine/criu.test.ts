import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CriuProbe } from './criu.js';

// Stand-in criu binaries: the probe runs `criu --version` and `criu check`.
let dir: string;
function fakeCriu(name: string, check: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\ncase "$1" in\n--version) echo "Version: 4.1.1";;\ncheck) ${check};;\nesac\n`);
  chmodSync(path, 0o755);
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nexcage-criu-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('whether this node can checkpoint', () => {
  it('yes, with a criu that passes `criu check`, found on PATH by name', async () => {
    fakeCriu('criu', 'echo "Looks good."');
    const s = await new CriuProbe({ path: 'criu', searchPath: `/nonexistent:${dir}` }).support();
    expect(s).toEqual({ available: true, criu: join(dir, 'criu'), version: '4.1.1', reason: '' });
  });

  it('no, naming the binary, when there is none', async () => {
    const s = await new CriuProbe({ path: 'criu', searchPath: '/nonexistent' }).support();
    expect(s.available).toBe(false);
    expect(s.reason).toContain('CRIU binary "criu" not found or not executable');
  });

  it("no, with CRIU's own last error line, when `criu check` fails on this kernel; probed again later", async () => {
    const path = fakeCriu('old-criu', 'echo "Error (criu/vdso.c:1): vdso: Unexpected rt vDSO area bounds" >&2; exit 1');
    const probe = new CriuProbe({ path, retryAfterMs: 0 });
    const s = await probe.support();
    expect(s.available).toBe(false);
    expect(s.reason).toBe(`criu 4.1.1 at ${path} fails \`criu check\` on this kernel: Error (criu/vdso.c:1): vdso: Unexpected rt vDSO area bounds`);
    fakeCriu('old-criu', 'exit 0'); // fixed without a daemon restart
    expect((await probe.support()).available).toBe(true);
  });
});
