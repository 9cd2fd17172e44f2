// The node agent: keeps this Node's nexcage labels/annotations and the RuntimeClasses in line
// with what the local daemon reports over its CRI socket, and pre-pulls images through it.
// Every failure (API server or daemon unavailable, API errors) is logged, counted and retried
// with backoff; nothing here lets an error end the process.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { Backoff, sleep } from './backoff.js';
import { DaemonClient } from './daemon-client.js';
import { startHttpEndpoint } from '../lib/http-endpoint.js';
import { apiErrorMessage, KubeApi } from './kube-api.js';
import { daemonMetricsRoute } from './metrics-relay.js';
import { agentApiErrors, agentDaemonUp, agentRuntimeReady, agentSyncs } from './metrics.js';
import { desiredNodeMeta, nodePatch, type DaemonFacts } from './node-labels.js';
import type { AgentOptions, RuntimeClassSpec } from './options.js';
import { PeerDiscovery } from './peer-discovery.js';
import { PrePuller } from './pre-pull.js';
import { ensureRuntimeClass } from './runtime-classes.js';

export class Agent {
  private readonly abort = new AbortController();
  private readonly backoff: Backoff;
  private readonly prePuller: PrePuller;
  private cri: DaemonClient | undefined;
  private http: Server | undefined;
  private loops: Promise<void>[] = [];
  lastSyncOk = false;
  /** Whether the daemon answered in the last round: what /readyz reports (an API outage is not the agent's). */
  daemonReachable = false;

  constructor(
    private readonly options: AgentOptions,
    private readonly kube: KubeApi,
    private readonly log: Logger,
  ) {
    this.backoff = new Backoff(options.retryInitialMs, options.retryMaxMs);
    this.prePuller = new PrePuller(
      () => this.client(),
      { images: options.prePull, resyncMs: options.resyncSeconds * 1000, retryInitialMs: options.retryInitialMs, retryMaxMs: options.retryMaxMs },
      log.child({ component: 'pre-pull' }),
    );
  }

  /** Starts /healthz, /readyz, /metrics and the loops; returns the health address ('' when off). */
  async start(): Promise<string> {
    let address = '';
    if (this.options.healthAddress !== '') {
      this.http = await startHttpEndpoint(
        this.options.healthAddress,
        // Ready follows the node-local daemon only: an API server outage must not make every agent
        // unready at once (and stall a rollout); API failures show in logs and metrics instead.
        async () => ({ ready: this.daemonReachable, reason: this.daemonReachable ? '' : `the daemon at ${this.options.socket} did not answer in the last round` }),
        this.log,
        this.options.daemonMetricsSocket !== '' ? { '/daemon/metrics': daemonMetricsRoute(this.options.daemonMetricsSocket) } : {},
      );
      const a = this.http.address() as AddressInfo;
      address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    }
    const loops = [this.syncLoop(), this.prePuller.run(this.abort.signal)];
    if (this.options.peersService !== '') loops.push(this.peerDiscovery().run(this.abort.signal));
    this.loops = loops.map((p) =>
      p.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'agent loop ended unexpectedly')),
    );
    return address;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
    this.cri?.close();
    this.kube.close();
    const h = this.http;
    if (h) {
      await new Promise<void>((r) => {
        h.close(() => r());
        h.closeAllConnections();
      });
    }
  }

  private peerDiscovery(): PeerDiscovery {
    const o = this.options;
    return new PeerDiscovery(
      this.kube.connection,
      { namespace: o.peersNamespace, service: o.peersService, portName: o.peersPortName, nodeName: o.nodeName, file: o.peersFile, retryInitialMs: o.retryInitialMs, retryMaxMs: o.retryMaxMs },
      this.log.child({ component: 'peers' }),
    );
  }

  private client(): DaemonClient {
    this.cri ??= new DaemonClient(this.options.socket);
    return this.cri;
  }

  private async syncLoop(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const ok = await this.syncOnce();
      this.lastSyncOk = ok;
      agentSyncs.inc({ result: ok ? 'ok' : 'error' });
      if (ok) this.backoff.reset();
      const delay = ok ? this.options.resyncSeconds * 1000 : this.backoff.next();
      if (!ok) this.log.info({ retryInMs: delay, failures: this.backoff.failures }, 'sync incomplete; retrying');
      await sleep(delay, this.abort.signal);
    }
  }

  /** One round: read the daemon, patch the Node, ensure RuntimeClasses. True when all of it worked. */
  async syncOnce(): Promise<boolean> {
    const facts = await this.readDaemon();
    this.daemonReachable = facts.reachable;
    let ok = facts.reachable;
    try {
      const current = await this.kube.readNodeMeta(this.options.nodeName);
      const patch = nodePatch(current, desiredNodeMeta(facts), facts);
      if (patch) {
        await this.kube.patchNodeMeta(this.options.nodeName, patch);
        this.log.info({ node: this.options.nodeName, patch }, 'node labels updated');
      }
    } catch (err) {
      ok = false;
      agentApiErrors.inc({ operation: 'node' });
      this.log.warn({ node: this.options.nodeName, err: apiErrorMessage(err) }, 'updating the Node failed');
    }
    if (!facts.reachable) return false;
    for (const spec of this.runtimeClasses(facts)) {
      if (!facts.handlers.includes(spec.handler)) {
        this.log.warn({ runtimeClass: spec.name, handler: spec.handler, handlers: facts.handlers }, 'the daemon on this node has no such handler');
      }
      try {
        await ensureRuntimeClass(this.kube, spec, this.log);
      } catch (err) {
        ok = false;
        agentApiErrors.inc({ operation: 'runtimeclass' });
        this.log.warn({ runtimeClass: spec.name, err: apiErrorMessage(err) }, 'publishing the RuntimeClass failed');
      }
    }
    return ok;
  }

  private runtimeClasses(facts: DaemonFacts): RuntimeClassSpec[] {
    if (this.options.runtimeClasses.length > 0) return this.options.runtimeClasses;
    return facts.handlers.map((h) => ({ name: h, handler: h }));
  }

  private async readDaemon(): Promise<DaemonFacts> {
    const c = this.client();
    try {
      const v = await c.version(5000);
      const st = await c.status(5000);
      const rt = st.conditions.find((x) => x.type === 'RuntimeReady');
      const facts: DaemonFacts = {
        reachable: true,
        version: v.runtimeVersion,
        apiVersion: v.runtimeApiVersion,
        ready: rt?.status === true,
        reason: rt ? `${rt.reason}: ${rt.message}` : 'no RuntimeReady condition',
        handlers: st.handlers.filter((n) => n !== ''),
      };
      agentDaemonUp.set(1);
      agentRuntimeReady.set(facts.ready ? 1 : 0);
      return facts;
    } catch (err) {
      agentDaemonUp.set(0);
      agentRuntimeReady.set(0);
      this.log.warn({ socket: this.options.socket, err: errorMessage(err) }, 'the nexcage daemon is not reachable');
      return { reachable: false, version: '', apiVersion: '', ready: false, reason: errorMessage(err), handlers: [] };
    }
  }
}
