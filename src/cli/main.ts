#!/usr/bin/env node
// The `nexcage` command: serve (the daemon), version, health, config, agent.
import { parseArgs } from 'node:util';
import { loadConfig, leaves } from '../daemon/config.js';
import { errorMessage, NexcageError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { nexcageVersion } from '../lib/version.js';

const COMMANDS: Record<string, string> = {
  serve: 'run the CRI daemon in the foreground',
  version: 'print the client version and, if the daemon answers, the server version',
  health: 'ask the daemon for CRI Status: exit 0 when the runtime is ready, 1 with the reason otherwise',
  config: 'print the effective configuration (defaults < file < NEXCAGE_* env < flags) as JSON',
  pull: 'pull IMAGE through the daemon, showing per-layer progress; prints the image id',
  agent: 'the Kubernetes node agent: labels this Node, publishes RuntimeClasses, pre-pulls images',
  doctor: 'check this node for nexcage (runtimes, cgroups, kernel, CNI, socket, disk, registries): OK/WARN/FAIL with fixes',
};

function usage(command?: string): string {
  const head = command
    ? `usage: nexcage ${command} [flags]\n\n${COMMANDS[command]}\n`
    : `usage: nexcage <command> [flags]\n\ncommands:\n${Object.entries(COMMANDS)
        .map(([c, d]) => `  ${c.padEnd(8)} ${d}`)
        .join('\n')}\n\nRun 'nexcage <command> --help' for its flags.\n`;
  if (!command) return head;
  const flags = [
    ['--config PATH', 'configuration file (default /etc/nexcage/config.json; missing default = built-in defaults)'],
    ['--help', 'show this help'],
    ...leaves().map((l) => [`--${l.flag} ${l.spec.kind === 'bool' ? 'true|false' : 'VALUE'}`, `${l.spec.doc} (env ${l.env})`]),
  ];
  return `${head}\nflags:\n${flags.map(([f, d]) => `  ${(f as string).padEnd(44)} ${d}`).join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage());
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    process.stdout.write(`${nexcageVersion()}\n`);
    return 0;
  }
  // The agent has its own flags (it talks to a daemon, it does not configure one).
  // Loaded on demand: the agent's Kubernetes client is large and the daemon never needs it
  // (a smaller heap is also a shorter GC pause on every daemon call).
  if (command === 'agent') return (await import('../agent/cli.js')).runAgent(rest, process.env);
  if (command === 'doctor') return (await import('./doctor.js')).doctorCommand(rest, process.env);
  if (!(command in COMMANDS)) {
    process.stderr.write(`nexcage: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' }, help: { type: 'boolean' } };
  for (const l of leaves()) options[l.flag] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: command === 'pull' });
  } catch (err) {
    process.stderr.write(`nexcage ${command}: ${errorMessage(err)}\n\n${usage(command)}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(usage(command));
    return 0;
  }
  const flags: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed.values)) if (k !== 'config' && k !== 'help' && typeof v === 'string') flags[k] = v;
  const sources = { file: parsed.values.config as string | undefined, env: process.env, flags };
  const { config } = await loadConfig(sources);

  switch (command) {
    case 'config':
      process.stdout.write(JSON.stringify(config, null, 2) + '\n');
      return 0;
    case 'serve': {
      const { serve } = await import('../daemon/serve.js');
      await serve(config, createLogger({ level: config.logLevel, format: config.logFormat }), {
        reload: async () => (await loadConfig(sources)).config,
      });
      return 0;
    }
    case 'version':
      return version(config.socket);
    case 'health':
      return health(config.socket);
    case 'pull':
      return (await import('./pull.js')).pullCommand(config, parsed.positionals);
  }
  return 2;
}

// Loaded on demand: `nexcage agent` has a small CRI client of its own and must not pay for grpc-js.
const criClient = (): Promise<typeof import('../cri/grpc/client.js')> => import('../cri/grpc/client.js');

async function version(socket: string): Promise<number> {
  process.stdout.write(`Client:\n  Version: ${nexcageVersion()}\n`);
  const { call, connectCri } = await criClient();
  const c = connectCri(socket);
  try {
    const v = await call(c.runtime, 'Version', {}, 3000);
    process.stdout.write(
      `Server:\n  RuntimeName: ${v.runtime_name}\n  RuntimeVersion: ${v.runtime_version}\n  RuntimeApiVersion: ${v.runtime_api_version}\n  Socket: ${socket}\n`,
    );
  } catch (err) {
    process.stdout.write(`Server:\n  not reachable at ${socket}: ${errorMessage(err)}\n`);
  } finally {
    c.close();
  }
  return 0;
}

async function health(socket: string): Promise<number> {
  const { call, connectCri } = await criClient();
  const c = connectCri(socket);
  try {
    const st = await call(c.runtime, 'Status', { verbose: false }, 5000);
    const conditions = st.status?.conditions ?? [];
    for (const cond of conditions) {
      process.stdout.write(`${cond.type}: ${cond.status ? 'true' : `false (${cond.reason}: ${cond.message})`}\n`);
    }
    const runtime = conditions.find((x) => x.type === 'RuntimeReady');
    return runtime?.status ? 0 : 1;
  } catch (err) {
    process.stdout.write(`not healthy: daemon not reachable at ${socket}: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    c.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`nexcage: ${err instanceof NexcageError ? err.message : errorMessage(err)}\n`);
    process.exit(1);
  },
);
