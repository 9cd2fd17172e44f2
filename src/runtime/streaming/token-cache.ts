// Single-use, short-lived tokens that stand for one streaming request between the CRI call that
// asks for a URL and the client opening it (as the kubelet's streaming server does): random,
// consumed on first use, expired after the TTL, and capped in number so a caller cannot pile them up.
import { randomBytes } from 'node:crypto';
import { ResourceExhaustedError } from '../../lib/errors.js';

export interface TokenCacheOptions {
  ttlMs: number;
  maxOutstanding: number;
  /** Injectable clock (ms) for tests. */
  now?: () => number;
}

export const DEFAULT_TOKEN_TTL_MS = 60_000;
export const MAX_OUTSTANDING_TOKENS = 1000;

interface Entry<T> {
  value: T;
  expiresAt: number;
}

export class TokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly now: () => number;

  constructor(private readonly options: TokenCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Store `value` under a fresh token; ResourceExhaustedError when too many are outstanding. */
  insert(value: T): string {
    this.prune();
    if (this.entries.size >= this.options.maxOutstanding) {
      throw new ResourceExhaustedError(`too many outstanding streaming requests (${this.options.maxOutstanding}); retry when some are used or expire`);
    }
    let token: string;
    do token = randomBytes(16).toString('base64url');
    while (this.entries.has(token));
    this.entries.set(token, { value, expiresAt: this.now() + this.options.ttlMs });
    return token;
  }

  /** The value for `token`, removing it; undefined if unknown, already used or expired. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return e.expiresAt > this.now() ? e.value : undefined;
  }

  get size(): number {
    this.prune();
    return this.entries.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
}
