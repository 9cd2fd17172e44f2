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

describe('why a CRIU cannot be used', () => {
  /** A stand-in criu whose `--version` and `check` run the given snippets. */
  function criu(name: string, version: string, check: string): string {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\ncase "$1" in\n--version) ${version};;\ncheck) ${check};;\nesac\n`);
    chmodSync(path, 0o755);
    return path;
  }

  it('one whose --version fails or names no version is refused, saying what it printed', async () => {
    const broken = criu('broken-criu', 'echo "criu: error while loading shared libraries: libprotobuf-c.so.1" >&2; exit 127', 'exit 0');
    expect((await new CriuProbe({ path: broken }).support()).reason).toBe(`${broken} --version failed: criu: error while loading shared libraries: libprotobuf-c.so.1`);
    const silent = criu('silent-criu', 'exit 0', 'exit 0');
    const s = await new CriuProbe({ path: silent }).support();
    expect(s).toEqual({ available: false, criu: silent, version: '', reason: `${silent} --version failed: exit code 0` });
  });

  it('a failing `criu check` without an error line is refused with its last line, or with no detail', async () => {
    const last = criu('last-criu', 'echo "Version: 3.17"', 'echo "Looks bad." ; echo "kernel too old" >&2; exit 1');
    expect((await new CriuProbe({ path: last }).support()).reason).toBe(`criu 3.17 at ${last} fails \`criu check\` on this kernel: Looks bad.`);
    const mute = criu('mute-criu', 'echo "Version: 3.17"', 'exit 1');
    expect((await new CriuProbe({ path: mute }).support()).reason).toBe(`criu 3.17 at ${mute} fails \`criu check\` on this kernel`);
  });

  it('a failed probe is kept for a while (no criu run per request), a working one for good', async () => {
    const path = criu('flaky-criu', 'echo "Version: 4.1"', 'exit 1');
    const probe = new CriuProbe({ path });
    expect((await probe.support()).available).toBe(false);
    criu('flaky-criu', 'echo "Version: 4.1"', 'exit 0');
    // Within the default retry period the failure stands.
    expect((await probe.support()).available).toBe(false);
    const good = new CriuProbe({ path, retryAfterMs: 0 });
    expect((await good.support()).available).toBe(true);
    criu('flaky-criu', 'echo "Version: 4.1"', 'exit 1');
    expect((await good.support()).available).toBe(true);
  });

  it('a bare name is looked up on the daemon PATH when no search path is given', async () => {
    const s = await new CriuProbe({ path: 'nexcage-no-such-criu' }).support();
    expect(s.reason).toContain('CRIU binary "nexcage-no-such-criu" not found or not executable');
  });
});
