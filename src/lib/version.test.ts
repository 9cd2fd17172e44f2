import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nexcageVersion, packageRoot } from './version.js';

describe('version', () => {
  it("is read from the package root's package.json", () => {
    expect(existsSync(join(packageRoot(), 'package.json'))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    expect(nexcageVersion()).toBe(pkg.version);
    expect(nexcageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
