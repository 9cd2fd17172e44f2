// The stats.* and tracing.* keys: defaults, env/flag forms, and refusals naming the key.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import { leaves, loadConfig } from './config.js';

describe('stats and tracing configuration', () => {
  it('defaults: tracing off, walks every 60 s, no per-container /metrics series', async () => {
    const { config } = await loadConfig({ env: {} });
    expect(config.tracing).toEqual({ endpoint: '' });
    expect(config.stats).toEqual({ fsUsageRefreshSeconds: 60, containerMetrics: false });
  });

  it('takes the environment and flags', async () => {
    expect(leaves().find((l) => l.key === 'tracing.endpoint')?.env).toBe('NEXCAGE_TRACING_ENDPOINT');
    const { config } = await loadConfig({
      env: { NEXCAGE_TRACING_ENDPOINT: 'http://127.0.0.1:4318', NEXCAGE_STATS_CONTAINER_METRICS: 'true' },
      flags: { 'stats-fs-usage-refresh-seconds': '5' },
    });
    expect(config.tracing.endpoint).toBe('http://127.0.0.1:4318');
    expect(config.stats).toEqual({ fsUsageRefreshSeconds: 5, containerMetrics: true });
  });

  it('refuses a non-HTTP endpoint and an out-of-range refresh, naming the key', async () => {
    await expect(loadConfig({ env: { NEXCAGE_TRACING_ENDPOINT: 'grpc://collector:4317' } })).rejects.toThrow(ConfigError);
    await expect(loadConfig({ env: { NEXCAGE_TRACING_ENDPOINT: 'collector:4318' } })).rejects.toThrow(/tracing\.endpoint.*http/);
    await expect(loadConfig({ flags: { 'stats-fs-usage-refresh-seconds': '0' } })).rejects.toThrow(/stats\.fsUsageRefreshSeconds/);
  });
});
