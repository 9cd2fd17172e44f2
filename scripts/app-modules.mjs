#!/usr/bin/env node
/* global process, console */
// Prints the compiled modules the `nexcage` command can load, one path a line relative to dist/:
// every module reachable from src/cli/main.js through static and dynamic imports. The package and
// the image ship exactly these, so tests, test helpers and dead modules never reach a node.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const dist = resolve(process.argv[2] ?? 'dist');
const entry = join(dist, 'src/cli/main.js');
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

const seen = new Set();
const queue = [entry];
while (queue.length > 0) {
  const file = queue.pop();
  if (seen.has(file)) continue;
  if (!existsSync(file)) {
    console.error(`app-modules: ${relative(dist, file)} is imported but missing from ${dist}`);
    process.exit(1);
  }
  seen.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) queue.push(resolve(dirname(file), m[2]));
}
for (const f of [...seen].map((f) => relative(dist, f)).sort()) console.log(f);
