import {
  RateLimiterRedis,
  RateLimiterRes,
  type IRateLimiterStoreOptions,
  type RateLimiterAbstract,
  type RateLimiterStoreAbstract,
} from 'rate-limiter-flexible';
import { ConfigurationError, StoreError } from '../errors.js';
import { assertKey, assertTtl, type RateLimiterSpec, type Store } from './store.js';

export interface MemoryStoreOptions {
  /**
   * Most entries held at once, the throttles' counters included (default 100,000). When a new key
   * would pass it, expired entries are swept; if the store is still full, the write is refused
   * with a `StoreError` (`ERR_STORE_FULL`, status 503). Live entries are never evicted, so a flood
   * cannot log anyone out, forget a lock or make a used one-time marker reusable; writes to keys
   * that exist, reads and deletes keep working. About 400 bytes per entry (README, Stores).
   */
  maxEntries?: number;
  /** How often expired entries are swept, in ms (default 60,000). The timer never keeps Node alive. */
  sweepIntervalMs?: number;
}

interface Entry {
  value: string;
  expiresAt: number;
}

interface Counter {
  points: number;
  /** `Infinity` for a counter without a window (rate-limiter-flexible's duration 0). */
  expiresAt: number;
}

/** What the store's rate limiters read and write: counters in the store's own bounded memory. */
interface CounterStorage {
  upsert(key: string, points: number, msDuration: number, forceExpire: boolean): CounterResult;
  get(key: string): CounterResult | null;
  delete(key: string): boolean;
}

interface CounterResult {
  consumedPoints: number;
  msBeforeNext: number;
}

/** A full store refuses new keys; sweeping the whole map again for every refused write would let a flood burn CPU. */
const FULL_SWEEP_INTERVAL_MS = 1000;

/**
 * The default store: one process only. State is lost on restart and not shared between
 * instances; for several instances use `RedisStore`.
 */
export class MemoryStore implements Store {
  readonly #entries = new Map<string, Entry>();
  readonly #counters = new Map<string, Counter>();
  readonly #maxEntries: number;
  #lastFullSweep = 0;
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

  /** Number of entries held (throttle counters included), expired ones not yet swept included. */
  get size(): number {
    return this.#entries.size + this.#counters.size;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    assertKey(key);
    assertTtl(ttlMs);
    if (typeof value !== 'string') throw new TypeError('A store value must be a string.');
    if (!this.#entries.has(key)) this.#admit();
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
    this.#admit();
    this.#entries.set(key, { value: '1', expiresAt: Date.now() + ttlMs });
    return 1;
  }

  /**
   * A rate-limiter-flexible limiter whose counters live in this store's bounded memory: the keys
   * are attacker-chosen (usernames, identifiers, client addresses), and rate-limiter-flexible's
   * own `RateLimiterMemory` holds any number of them, each with its own timer. A new counter in a
   * full store is refused like any new key (`ERR_STORE_FULL`).
   */
  createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract {
    return new MemoryStoreRateLimiter(
      {
        storeClient: null,
        keyPrefix: spec.keyPrefix,
        points: spec.points,
        duration: spec.durationSec,
        ...(spec.blockDurationSec !== undefined ? { blockDuration: spec.blockDurationSec } : {}),
      },
      this.#counterStorage,
    );
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#entries.clear();
    this.#counters.clear();
  }

  readonly #counterStorage: CounterStorage = {
    upsert: (key, points, msDuration, forceExpire) => {
      const now = Date.now();
      const counter = this.#liveCounter(key, now);
      if (counter && !forceExpire) {
        counter.points += points;
        return counterResult(counter, now);
      }
      if (!counter) this.#admit();
      const fresh: Counter = { points, expiresAt: msDuration > 0 ? now + msDuration : Infinity };
      this.#counters.set(key, fresh);
      return counterResult(fresh, now);
    },
    get: (key) => {
      const now = Date.now();
      const counter = this.#liveCounter(key, now);
      return counter ? counterResult(counter, now) : null;
    },
    delete: (key) => this.#counters.delete(key),
  };

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #liveCounter(key: string, now: number): Counter | undefined {
    const counter = this.#counters.get(key);
    if (counter === undefined) return undefined;
    if (counter.expiresAt <= now) {
      this.#counters.delete(key);
      return undefined;
    }
    return counter;
  }

  /**
   * Makes room for one new key, or refuses it. Live state is never evicted to make room: evicting
   * the oldest entries let a flood of unauthenticated requests log every user out and make used
   * single-use markers reusable.
   */
  #admit(): void {
    if (this.size < this.#maxEntries) return;
    const now = Date.now();
    if (now - this.#lastFullSweep >= FULL_SWEEP_INTERVAL_MS) {
      this.#lastFullSweep = now;
      this.#sweep();
    }
    if (this.size < this.#maxEntries) return;
    throw new StoreError(
      `MemoryStore is full (${this.#maxEntries} live entries): new state is refused until entries expire, rather than evicting live logins. The server is busy; raise \`maxEntries\` or use RedisStore.`,
      { code: 'ERR_STORE_FULL' },
    );
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(key);
    }
    for (const [key, counter] of this.#counters) {
      if (counter.expiresAt <= now) this.#counters.delete(key);
    }
  }
}

function counterResult(counter: Counter, now: number): CounterResult {
  return {
    consumedPoints: counter.points,
    msBeforeNext: counter.expiresAt === Infinity ? -1 : counter.expiresAt - now,
  };
}

/**
 * rate-limiter-flexible declares `RateLimiterStoreAbstract` in its types but does not export it
 * from its entry point, so it is reached through a limiter that extends it.
 */
function storeLimiterBase(): typeof RateLimiterStoreAbstract {
  const base = Object.getPrototypeOf(RateLimiterRedis) as typeof RateLimiterStoreAbstract;
  if (base?.name !== 'RateLimiterStoreAbstract') {
    throw new Error(
      'rate-limiter-flexible changed shape: RateLimiterRedis no longer extends RateLimiterStoreAbstract.',
    );
  }
  return base;
}

/**
 * rate-limiter-flexible's extension point for a custom backend (`RateLimiterStoreAbstract`: the
 * same one its Redis and Memcached limiters use), over the MemoryStore's counters. The storage is
 * synchronous, so every upsert is atomic in the process.
 */
class MemoryStoreRateLimiter extends storeLimiterBase() {
  readonly #storage: CounterStorage;

  constructor(options: IRateLimiterStoreOptions, storage: CounterStorage) {
    super(options);
    this.#storage = storage;
  }

  _getRateLimiterRes(_rlKey: string, changedPoints: number, result: CounterResult): RateLimiterRes {
    return new RateLimiterRes(
      Math.max(this.points - result.consumedPoints, 0),
      result.msBeforeNext,
      result.consumedPoints,
      result.consumedPoints === changedPoints,
    );
  }

  _upsert(rlKey: string, points: number, msDuration: number, forceExpire = false): Promise<CounterResult> {
    // A refused new key (a StoreError) rejects the limiter's promise: consumeOrThrow passes it on.
    return new Promise((resolve) => resolve(this.#storage.upsert(rlKey, points, msDuration, forceExpire)));
  }

  _get(rlKey: string): Promise<CounterResult | null> {
    return Promise.resolve(this.#storage.get(rlKey));
  }

  _delete(rlKey: string): Promise<boolean> {
    return Promise.resolve(this.#storage.delete(rlKey));
  }
}
