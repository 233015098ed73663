import type { RateLimiterAbstract } from 'rate-limiter-flexible';

/** How a strategy asks its store for a throttle; mapped onto rate-limiter-flexible's options. */
export interface RateLimiterSpec {
  /** Namespace for this limiter's keys, e.g. `basic-login:fail-user`. */
  keyPrefix: string;
  /** Points that may be consumed per window. */
  points: number;
  /** Window length in seconds. */
  durationSec: number;
  /** Once the points are used up, block for this many seconds (default: until the window ends). */
  blockDurationSec?: number;
}

/**
 * What strategies keep between requests: pending challenges, token families, counters.
 *
 * Every method is atomic on its own key; `take` and `increment` are atomic across processes in
 * the Redis store, so single use and attempt limits hold when several app instances share it.
 * Values are strings: callers serialise.
 */
export interface Store {
  /** Stores `value` under `key` for `ttlMs` milliseconds, replacing any earlier value and TTL. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** The live value, or `undefined` when absent or expired. */
  get(key: string): Promise<string | undefined>;
  /** Atomically reads and deletes: of any number of concurrent takes, exactly one gets the value. */
  take(key: string): Promise<string | undefined>;
  /**
   * Atomically deletes the key only if it still holds `expected`; answers whether it did. This is
   * compare-and-consume: of concurrent callers holding the same value, exactly one gets `true`,
   * and a value replaced in the meantime is left alone.
   */
  deleteIfEquals(key: string, expected: string): Promise<boolean>;
  /** Deletes the key; deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Atomically adds 1 and returns the new count. The first increment starts a `ttlMs` lifetime
   * that later increments do not extend, so a counter always dies at the end of its window.
   */
  increment(key: string, ttlMs: number): Promise<number>;
  /** A rate-limiter-flexible limiter backed by the same storage as this store. */
  createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract;
  /** Releases what the store holds (timers; never the app's own Redis client). */
  close(): Promise<void>;
}

export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TypeError('A store key must be a non-empty string.');
  }
}

export function assertTtl(ttlMs: unknown): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`A store TTL must be a positive whole number of milliseconds, got ${String(ttlMs)}.`);
  }
}
