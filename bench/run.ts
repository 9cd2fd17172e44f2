// `make bench`: runs every suite (or the ones named: `make bench ARGS="pull pods"`), prints a
// table per suite and writes bench/results/<suite>.json. Benchmarks are never run by `make test`.
import { printTable, writeResult, type Suite } from './lib.js';

// Each suite registers here as it lands: { name, load: () => import('./x.js') }.
const SUITES: { name: string; load: () => Promise<{ suite: Suite }> }[] = [
  { name: 'stats', load: () => import('./stats.js') },
  { name: 'streaming', load: () => import('./streaming.js') },
  { name: 'pull', load: () => import('./pull.js') },
  { name: 'containers', load: () => import('./containers.js') },
  { name: 'pods', load: () => import('./pods.js') },
  { name: 'soak', load: () => import('./soak.js') },
  { name: 'compare', load: () => import('./compare.js') },
  { name: 'checkpoint', load: () => import('./checkpoint.js') },
  { name: 'peer', load: () => import('./peer.js') },
  { name: 'agent', load: () => import('./agent.js') },
];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const chosen = wanted.length ? SUITES.filter((s) => wanted.includes(s.name)) : SUITES;
  if (chosen.length === 0) {
    console.log(`no benchmark suites${wanted.length ? ` named ${wanted.join(', ')}` : ''} (known: ${SUITES.map((s) => s.name).join(', ') || 'none yet'})`);
    return;
  }
  for (const s of chosen) {
    const { suite } = await s.load();
    const rows = await suite.run();
    printTable(suite.name, rows);
    console.log(`-> ${writeResult(suite.name, rows)}`);
  }
}

await main();
