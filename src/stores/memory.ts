import {
  RateLimiterRedis,
  RateLimiterRes,
  type IRateLimiterStoreOptions,
  type RateLimiterAbstract,
  type RateLimiterStoreAbstract,
} from 'rate-limiter-flexible';
import { ConfigurationError, StoreError } from '../errors.js';
import {
  ROLLING_MAX_PREDECESSORS,
  assertGrace,
  assertKey,
  assertMember,
  assertTtl,
  type RateLimiterSpec,
  type RollResult,
  type Store,
} from './store.js';

/** A rolling record as kept in memory: data, current member, superseded members with their grace end. */
interface Rolling {
  d: string;
  c: string;
  p: Array<[member: string, until: number]>;
}

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

  async setRolling(key: string, data: string, current: string, ttlMs: number): Promise<void> {
    assertMember(current, 'rolling member');
    const record: Rolling = { d: data, c: current, p: [] };
    await this.set(key, JSON.stringify(record), ttlMs);
  }

  async roll(key: string, presented: string, next: string | undefined, graceMs: number): Promise<RollResult> {
    assertKey(key);
    assertMember(presented, 'rolling member');
    if (next !== undefined) assertMember(next, 'rolling member');
    assertGrace(graceMs);
    // Atomic by construction: no await between the read and the write.
    const entry = this.#live(key);
    const record = entry && parseRolling(entry.value);
    if (!entry || !record) return { status: 'absent' };
    const now = Date.now();
    if (record.c === presented) {
      if (next === undefined) return { status: 'current', data: record.d, current: record.c };
      record.p = record.p.filter(([, until]) => until > now);
      record.p.push([presented, now + graceMs]);
      record.p.splice(0, Math.max(0, record.p.length - ROLLING_MAX_PREDECESSORS));
      record.c = next;
      entry.value = JSON.stringify(record);
      return { status: 'rolled', data: record.d, current: next };
    }
    if (record.p.some(([member, until]) => member === presented && until > now)) {
      return { status: 'grace', data: record.d, current: record.c };
    }
    this.#entries.delete(key);
    return { status: 'reused', data: record.d };
  }

  async addMember(key: string, member: string, ttlMs: number): Promise<void> {
    assertKey(key);
    assertMember(member);
    assertTtl(ttlMs);
    const now = Date.now();
    const entry = this.#live(key);
    const members = (entry && parseMembers(entry.value)) || new Map<string, number>();
    for (const [name, until] of members) if (until <= now) members.delete(name);
    members.set(member, now + ttlMs);
    const value = JSON.stringify([...members]);
    if (entry) {
      entry.value = value;
      entry.expiresAt = Math.max(entry.expiresAt, now + ttlMs);
      return;
    }
    this.#admit();
    this.#entries.set(key, { value, expiresAt: now + ttlMs });
  }

  async takeMembers(key: string): Promise<string[]> {
    assertKey(key);
    const entry = this.#live(key);
    if (!entry) return [];
    this.#entries.delete(key);
    const now = Date.now();
    return [...(parseMembers(entry.value) ?? [])].filter(([, until]) => until > now).map(([name]) => name);
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

/** A rolling record, or `undefined` for a value that is not one (set by something else). */
function parseRolling(value: string): Rolling | undefined {
  try {
    const record = JSON.parse(value) as Rolling;
    if (typeof record?.d === 'string' && typeof record.c === 'string' && Array.isArray(record.p))
      return record;
  } catch {
    // Not a rolling record.
  }
  return undefined;
}

function parseMembers(value: string): Map<string, number> | undefined {
  try {
    const pairs = JSON.parse(value) as Array<[string, number]>;
    if (Array.isArray(pairs)) return new Map(pairs);
  } catch {
    // Not a member set.
  }
  return undefined;
}
