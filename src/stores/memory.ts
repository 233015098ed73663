import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ConfigurationError } from '../errors.js';
import { assertKey, assertTtl, type RateLimiterSpec, type Store } from './store.js';

export interface MemoryStoreOptions {
  /**
   * Most entries kept at once (default 100,000). When full, expired entries are swept and then
   * the oldest live entries are evicted: memory stays bounded under a flood, at the cost of
   * forgetting the oldest state (a lock counter among it). Use `RedisStore` in production.
   */
  maxEntries?: number;
  /** How often expired entries are swept, in ms (default 60,000). The timer never keeps Node alive. */
  sweepIntervalMs?: number;
}

interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * The default store: one process only. State is lost on restart and not shared between
 * instances; for several instances use `RedisStore`.
 */
export class MemoryStore implements Store {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const { maxEntries = 100_000, sweepIntervalMs = 60_000 } = options;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new ConfigurationError('MemoryStore: `maxEntries` must be a positive whole number.');
    }
    if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 1) {
      throw new ConfigurationError('MemoryStore: `sweepIntervalMs` must be a positive whole number of ms.');
    }
    this.#maxEntries = maxEntries;
    this.#sweeper = setInterval(() => this.#sweep(), sweepIntervalMs);
    this.#sweeper.unref();
  }

  /** Number of entries held, expired ones not yet swept included. */
  get size(): number {
    return this.#entries.size;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    assertKey(key);
    assertTtl(ttlMs);
    if (typeof value !== 'string') throw new TypeError('A store value must be a string.');
    // Re-inserting moves the key to the end of the Map's order, which eviction relies on.
    this.#entries.delete(key);
    this.#makeRoom();
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }

  async get(key: string): Promise<string | undefined> {
    assertKey(key);
    return this.#live(key)?.value;
  }

  async take(key: string): Promise<string | undefined> {
    assertKey(key);
    // Atomic by construction: no await between the read and the delete.
    const entry = this.#live(key);
    if (entry) this.#entries.delete(key);
    return entry?.value;
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    assertKey(key);
    // Atomic by construction: no await between the comparison and the delete.
    if (this.#live(key)?.value !== expected) return false;
    this.#entries.delete(key);
    return true;
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    this.#entries.delete(key);
  }

  async increment(key: string, ttlMs: number): Promise<number> {
    assertKey(key);
    assertTtl(ttlMs);
    const entry = this.#live(key);
    if (entry) {
      const count = Number(entry.value) + 1;
      entry.value = String(count);
      return count;
    }
    this.#makeRoom();
    this.#entries.set(key, { value: '1', expiresAt: Date.now() + ttlMs });
    return 1;
  }

  createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract {
    return new RateLimiterMemory({
      keyPrefix: spec.keyPrefix,
      points: spec.points,
      duration: spec.durationSec,
      ...(spec.blockDurationSec !== undefined ? { blockDuration: spec.blockDurationSec } : {}),
    });
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#entries.clear();
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #makeRoom(): void {
    if (this.#entries.size < this.#maxEntries) return;
    this.#sweep();
    // Map iteration follows insertion order, so the first keys are the oldest writes.
    for (const key of this.#entries.keys()) {
      if (this.#entries.size < this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(key);
    }
  }
}
