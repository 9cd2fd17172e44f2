// What scripts/install.sh lays out (the .deb and the image are built from it): exactly the
// compiled modules the command can load, no test of ours or of a dependency, every shipped module
// loading on the shipped Node with the shipped node_modules, and the wrapper's V8 flags.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const stage = mkdtempSync('/tmp/nexcage-stage-');
const APP = join(stage, 'usr/lib/nexcage/app');
afterAll(() => rmSync(stage, { recursive: true, force: true }));

function files(dir: string): string[] {
  return execFileSync('find', [dir, '-mindepth', '1'], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n').filter(Boolean);
}

describe('the installed layout (scripts/install.sh)', () => {
  let all: string[];
  beforeAll(() => {
    execFileSync('scripts/install.sh', { cwd: REPO, env: { ...process.env, DESTDIR: stage, PREFIX: '/usr' }, stdio: 'pipe' });
    all = files(stage);
  }, 300_000);

  it('ships exactly the modules reachable from main.js: no tests, test helpers or type-only modules', () => {
    const reachable = execFileSync(join(REPO, 'node_modules/.bin/node'), ['scripts/app-modules.mjs', 'dist'], { cwd: REPO, encoding: 'utf8' }).trim().split('\n');
    expect(reachable).toContain('src/cli/main.js');
    expect(reachable).toContain('src/cli/doctor.js');
    expect(reachable).toContain('src/agent/cli.js');
    const shipped = files(join(APP, 'dist/src')).filter((f) => f.endsWith('.js')).map((f) => f.slice(join(APP, 'dist').length + 1)).sort();
    expect(shipped).toEqual(reachable);
    expect(shipped.filter((f) => /test|\.map$|generated\//.test(f))).toEqual([]);
  });

  it('carries no test, spec, example or benchmark of any dependency', () => {
    const testish = all.filter((f) => /(^|\/)(tests?|__tests__|specs|examples?|bench(mark)?)(\/|$)|\.(test|spec)\.[cm]?js$/.test(f.slice(stage.length)));
    expect(testish).toEqual([]);
  });

  it('loads every shipped module on the shipped Node with the shipped node_modules', () => {
    const modules = files(join(APP, 'dist/src')).filter((f) => f.endsWith('.js') && !f.endsWith('/cli/main.js'));
    const script = `for (const m of ${JSON.stringify(modules)}) await import(m); console.log('loaded', ${modules.length});`;
    const r = spawnSync(join(stage, 'usr/lib/nexcage/node'), ['--input-type=module', '-e', script], { cwd: APP, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`loaded ${modules.length}`);
    const v = spawnSync(join(stage, 'usr/lib/nexcage/node'), [join(APP, 'dist/src/cli/main.js'), '--version'], { encoding: 'utf8' });
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
  });

  it('runs the agent with its own V8 flags and the daemon with the daemon\'s', () => {
    const wrapper = readFileSync(join(stage, 'usr/bin/nexcage'), 'utf8');
    expect(wrapper).toContain('if [ "$1" = agent ]; then exec /usr/lib/nexcage/node --lite-mode --max-semi-space-size=1 /usr/lib/nexcage/app/dist/src/cli/main.js "$@"; fi');
    expect(wrapper).toMatch(/^exec \/usr\/lib\/nexcage\/node( \S+)* \/usr\/lib\/nexcage\/app\/dist\/src\/cli\/main\.js "\$@"$/m);
  });
});
