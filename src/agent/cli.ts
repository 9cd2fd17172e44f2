// `nexcage agent`: parse options, connect to the API server, run until SIGTERM/SIGINT.
import { ConfigError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { collectDefaultMetrics } from 'prom-client';
import { registry } from '../lib/metrics.js';
import { nexcageVersion } from '../lib/version.js';
import type { Logger } from '../lib/log.js';
import { Agent } from './agent.js';
import { cleanupCluster } from './cleanup.js';
import { apiErrorMessage, KubeApi } from './kube-api.js';
import { agentUsage, parseAgentOptions } from './options.js';

export async function runAgent(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cleanup = argv[0] === 'cleanup';
  if (cleanup) argv = argv.slice(1);
  let options;
  try {
    options = parseAgentOptions(argv, env, { nodeName: !cleanup });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`nexcage agent: ${err.message}\n\n${agentUsage()}`);
    return 2;
  }
  if (!options) {
    process.stdout.write(agentUsage());
    return 0;
  }
  const log = createLogger({ level: options.logLevel, format: options.logFormat });
  if (cleanup) return runCleanup(options.kubeconfig, log);
  // An unexpected error in one round must not end the agent: log it and let the loops retry.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (agent keeps running)'));
  process.on('unhandledRejection', (reason) => log.error({ err: apiErrorMessage(reason) }, 'unhandled rejection (agent keeps running)'));
  // Process metrics, with the event-loop delay sampled every 100 ms rather than prom-client's 10 ms:
  // the 10 ms timer alone costs the otherwise idle agent ~7 millicores.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  let kube: KubeApi;
  try {
    kube = KubeApi.connect(options.kubeconfig);
  } catch (err) {
    log.fatal({ err: apiErrorMessage(err), kubeconfig: options.kubeconfig || '(in-cluster)' }, 'cannot load the Kubernetes client configuration');
    return 1;
  }
  const agent = new Agent(options, kube, log);
  const healthAddress = await agent.start();
  log.info(
    { node: options.nodeName, socket: options.socket, healthAddress, runtimeClasses: options.runtimeClasses, prePull: options.prePull, version: nexcageVersion() },
    'nexcage agent started',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'agent stopping');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await agent.stop();
  log.info('agent stopped');
  return 0;
}

async function runCleanup(kubeconfig: string, log: Logger): Promise<number> {
  let kube: KubeApi;
  try {
    kube = KubeApi.connect(kubeconfig);
  } catch (err) {
    log.fatal({ err: apiErrorMessage(err), kubeconfig: kubeconfig || '(in-cluster)' }, 'cannot load the Kubernetes client configuration');
    return 1;
  }
  const r = await cleanupCluster(kube, log);
  kube.close();
  log.info({ runtimeClassesDeleted: r.runtimeClasses, nodesCleaned: r.nodes, errors: r.errors.length }, 'cleanup finished');
  return r.errors.length === 0 ? 0 : 1;
}
