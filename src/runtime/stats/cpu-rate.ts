// usage_nano_cores: CPU time used per second of wall time, from two cumulative samples.
//
// Several clients poll (kubelet every 10 s, metrics-server, crictl stats): if every read replaced
// the previous sample, a read 50 ms after another would compute a rate over 50 ms, which is noise.
// So a new sample is only stored when the window since the last stored one is at least
// `minWindowNs`; a read inside that window answers with the rate of the last complete window
// (stored samples `prev` -> `last`), the same number every close-together client sees.
export interface CpuSample {
  timestampNs: number;
  usageNs: number;
}

interface Entry {
  prev?: CpuSample;
  last: CpuSample;
  /** Rate over prev -> last, the answer for reads inside the current window. */
  rate?: number;
}

export class CpuRateTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly minWindowNs = 1e9) {}

  /** Record a sample for `key` and return nano-cores, or undefined until a full window exists. */
  observe(key: string, sample: CpuSample): number | undefined {
    const e = this.entries.get(key);
    if (!e || sample.usageNs < e.last.usageNs || sample.timestampNs < e.last.timestampNs) {
      // First sight, or the counter went back (cgroup re-created): start over.
      this.entries.set(key, { last: sample });
      return undefined;
    }
    const window = sample.timestampNs - e.last.timestampNs;
    if (window < this.minWindowNs) return e.rate;
    const rate = ((sample.usageNs - e.last.usageNs) / window) * 1e9;
    this.entries.set(key, { prev: e.last, last: sample, rate });
    return rate;
  }

  /** Forget keys no longer alive (called with the live set after each sweep). */
  retain(alive: Set<string>): void {
    for (const k of this.entries.keys()) if (!alive.has(k)) this.entries.delete(k);
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
