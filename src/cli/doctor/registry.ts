// Registries: every configured mirror answers the distribution API (/v2/ gives 200 or 401), and
// the node's clock agrees with a registry's Date header (a skewed clock breaks TLS and tokens).
import { endpointsFor } from '../../images/endpoints.js';
import { fail, ok, warn, type Check, type CheckResult, type DoctorContext } from './check.js';

const SKEW_WARN_S = 30;
const SKEW_FAIL_S = 300;

export const registryCheck: Check = async (ctx) => {
  const out: CheckResult[] = [];
  const cfg = { mirrors: ctx.config.registry.mirrors, insecure: ctx.config.registry.insecure };
  const mirrors = Object.keys(cfg.mirrors).flatMap((registry) => endpointsFor(registry, cfg).filter((e) => e.mirror).map((e) => ({ registry, base: e.base })));
  let date: { from: string; value: string } | undefined;
  const probes = await Promise.all(mirrors.map(async (m) => ({ ...m, r: await probe(ctx, `${m.base}/v2/`) })));
  for (const { registry, base, r } of probes) {
    if ('error' in r) out.push(warn('registry-mirror', `mirror ${base} of ${registry} unreachable: ${r.error}`, `check the network path to ${base}, or remove it from registry.mirrors`));
    else if (r.status !== 200 && r.status !== 401) out.push(warn('registry-mirror', `mirror ${base} of ${registry} answers /v2/ with HTTP ${r.status}: not a registry API`, `check the mirror URL in registry.mirrors`));
    else out.push(ok('registry-mirror', `mirror ${base} of ${registry} answers (HTTP ${r.status})`));
    if (!('error' in r) && r.date && !date) date = { from: base, value: r.date };
  }
  if (mirrors.length === 0) out.push(ok('registry-mirror', 'no registry mirrors configured'));
  if (!date) {
    const r = await probe(ctx, `${ctx.clockRegistry.replace(/\/+$/, '')}/v2/`);
    if (!('error' in r) && r.date) date = { from: ctx.clockRegistry, value: r.date };
    else {
      out.push(warn('clock', `no registry answered with a Date header (${ctx.clockRegistry}: ${'error' in r ? r.error : 'no Date header'}): clock skew not checked`, 'check the network, or pass --registry with a reachable registry; keep NTP running (chrony or systemd-timesyncd)'));
      return out;
    }
  }
  const skew = (ctx.host.now() - Date.parse(date.value)) / 1000;
  const text = `${Math.abs(skew).toFixed(0)} s ${skew >= 0 ? 'ahead of' : 'behind'} ${date.from}`;
  // The Date header has one-second resolution and the request takes time: allow a little.
  if (Math.abs(skew) >= SKEW_FAIL_S) out.push(fail('clock', `the clock is ${text}: TLS certificates and registry tokens will be rejected`, 'sync the clock (chronyc makestep, or systemctl restart systemd-timesyncd) and keep NTP running'));
  else if (Math.abs(skew) >= SKEW_WARN_S) out.push(warn('clock', `the clock is ${text}`, 'keep NTP running (chrony or systemd-timesyncd)'));
  else out.push(ok('clock', `within ${SKEW_WARN_S} s of ${date.from} (${text})`));
  return out;
};

async function probe(ctx: DoctorContext, url: string): Promise<{ status: number; date: string | undefined } | { error: string }> {
  try {
    return await ctx.host.probe(url);
  } catch (err) {
    const e = err as Error & { cause?: Error };
    return { error: e.cause?.message ?? e.message };
  }
}
