// deploy/systemd/nexcage.service as the package installs it, checked by systemd's own
// `systemd-analyze verify` (offline: this VM does not run systemd as init) and for the
// directives the daemon's behaviour relies on.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const UNIT = readFileSync(join(REPO, 'deploy/systemd/nexcage.service'), 'utf8');
const dir = mkdtempSync('/tmp/nexcage-unit-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Install the unit like scripts/install.sh does (with a stand-in binary and the man page). */
function installUnit(text: string, name = 'nexcage.service'): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'man/man8'), { recursive: true });
  writeFileSync(join(dir, 'bin/nexcage'), '#!/bin/sh\n');
  chmodSync(join(dir, 'bin/nexcage'), 0o755);
  writeFileSync(join(dir, 'man/man8/nexcage.8'), readFileSync(join(REPO, 'deploy/man/nexcage.8')));
  const path = join(dir, name);
  writeFileSync(path, text.replaceAll('@BINDIR@', join(dir, 'bin')));
  return path;
}

function verify(path: string): { code: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8', env: { ...process.env, MANPATH: join(dir, 'man') } });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

describe('the nexcage systemd unit', () => {
  it('passes systemd-analyze verify', () => {
    const r = verify(installUnit(UNIT));
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('is checked for real: systemd-analyze rejects a broken copy', () => {
    const r = verify(installUnit(UNIT.replace('KillMode=process', 'KillMode=proces'), 'broken.service'));
    expect(r.output).toMatch(/broken.service:\d+: Failed to parse kill mode/);
  });

  it('has the directives the daemon relies on', () => {
    const d = directives(UNIT);
    const one = (k: string): string | undefined => d.get(k)?.[0];
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('all'); // READY/WATCHDOG come through systemd-notify with --pid
    expect(one('KillMode')).toBe('process');
    expect(one('Delegate')).toBe('yes');
    expect(one('Restart')).toBe('always');
    expect(one('LimitNOFILE')).toBe('1048576');
    expect(one('OOMScoreAdjust')).toBe('-999');
    expect(Number(one('WatchdogSec'))).toBeGreaterThan(0);
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('ExecStart')).toBe('@BINDIR@/nexcage serve');
    expect(one('WantedBy')).toBe('multi-user.target');
  });
});
