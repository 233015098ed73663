import { ConfigurationError, StoreError } from '../errors.js';
import { macsEqual, parseCodeRecord, parseMembers, parseRolling, type RollingRecord } from './operations.js';
import {
  ROLLING_MAX_PREDECESSORS,
  assertGrace,
  assertKey,
  assertMember,
  assertPoints,
  assertRedemption,
  assertTtl,
  assertValue,
  type CodeRedemption,
  type CodeRedemptionResult,
  type ConsumeResult,
  type RollResult,
  type Store,
} from './store.js';

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
  /**
   * A rolling record is kept as the object `roll()` works on (parsing and re-serialising its
   * predecessor list took most of an X-Token request's store time); readers of a string get it
   * serialised (`text()`).
   */
  value: string | RollingRecord;
  expiresAt: number;
}

/** An entry's value as the string the Store interface answers. */
function text(entry: Entry): string {
  return typeof entry.value === 'string' ? entry.value : JSON.stringify(entry.value);
}

interface Counter {
  points: number;
  expiresAt: number;
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
    assertValue(value);
    if (!this.#entries.has(key)) this.#admit();
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }

  async get(key: string): Promise<string | undefined> {
    assertKey(key);
    const entry = this.#live(key);
    return entry && text(entry);
  }

  async take(key: string): Promise<string | undefined> {
    assertKey(key);
    // Atomic by construction: no await between the read and the delete.
    const entry = this.#live(key);
    if (entry) this.#entries.delete(key);
    return entry && text(entry);
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    assertKey(key);
    // Atomic by construction: no await between the comparison and the delete.
    const entry = this.#live(key);
    if (!entry || text(entry) !== expected) return false;
    this.#entries.delete(key);
    return true;
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    this.#entries.delete(key);
    this.#counters.delete(key);
  }

  async increment(key: string, ttlMs: number): Promise<number> {
    assertKey(key);
    assertTtl(ttlMs);
    const entry = this.#live(key);
    if (entry) {
      const count = Number(text(entry)) + 1;
      entry.value = String(count);
      return count;
    }
    this.#admit();
    this.#entries.set(key, { value: '1', expiresAt: Date.now() + ttlMs });
    return 1;
  }

  async setRolling(key: string, data: string, current: string, ttlMs: number): Promise<void> {
    assertMember(current, 'rolling member');
    assertKey(key);
    assertTtl(ttlMs);
    assertValue(data);
    if (!this.#entries.has(key)) this.#admit();
    this.#entries.set(key, { value: { d: data, c: current, p: [] }, expiresAt: Date.now() + ttlMs });
  }

  async roll(key: string, presented: string, next: string | undefined, graceMs: number): Promise<RollResult> {
    assertKey(key);
    assertMember(presented, 'rolling member');
    if (next !== undefined) assertMember(next, 'rolling member');
    assertGrace(graceMs);
    // Atomic by construction: no await between the read and the write.
    const entry = this.#live(key);
    const record = entry && (typeof entry.value === 'string' ? parseRolling(entry.value) : entry.value);
    if (!entry || !record) return { status: 'absent' };
    entry.value = record;
    const now = Date.now();
    if (record.c === presented) {
      if (next === undefined) return { status: 'current', data: record.d, current: record.c };
      // Runs on every authenticated request. Predecessors are appended in order, so the expired
      // ones are at the front: drop those and stop at the first live one, rather than scanning
      // all of them (a busy family keeps up to 32, each a separate object to read). One left
      // behind by a caller with a longer grace is still refused by its expiry, and the cap bounds them.
      const predecessors = record.p;
      let expired = 0;
      while (expired < predecessors.length && predecessors[expired]![1] <= now) expired++;
      predecessors.push([presented, now + graceMs]);
      const drop = Math.max(expired, predecessors.length - ROLLING_MAX_PREDECESSORS);
      if (drop > 0) predecessors.splice(0, drop);
      record.c = next;
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
    const members = (entry && parseMembers(text(entry))) || new Map<string, number>();
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
    return [...(parseMembers(text(entry)) ?? [])].filter(([, until]) => until > now).map(([name]) => name);
  }

  /**
   * The throttles' counters, in this store's bounded memory: their keys are attacker-chosen
   * (usernames, identifiers, client addresses), so a new counter in a full store is refused like
   * any new key (`ERR_STORE_FULL`). Synchronous, so atomic in the process.
   */
  async consume(key: string, points: number, windowMs: number): Promise<ConsumeResult> {
    assertKey(key);
    assertPoints(points);
    assertTtl(windowMs);
    return this.#consume(key, points, windowMs, Date.now());
  }

  async compareAndSet(
    key: string,
    expected: string | undefined,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    assertKey(key);
    assertTtl(ttlMs);
    assertValue(value);
    // Atomic by construction: no await between the comparison and the write.
    const entry = this.#live(key);
    if ((entry && text(entry)) !== expected) return false;
    if (!entry) this.#admit();
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
    return true;
  }

  /** One synchronous step: count, compare, consume (see `Store.redeemCode`). */
  async redeemCode(request: CodeRedemption): Promise<CodeRedemptionResult> {
    assertRedemption(request);
    const { key, attemptsKey, userAttemptsKey, maxAttempts, maxUserAttempts, windowMs, now } = request;
    const clock = Date.now();
    // An attempt past either limit is locked and spends nothing.
    const codeCount = this.#liveCounter(attemptsKey, clock);
    if (codeCount && codeCount.points >= maxAttempts)
      return { status: 'locked', msBeforeNext: codeCount.expiresAt - clock };
    const userCount = this.#liveCounter(userAttemptsKey, clock);
    if (userCount && userCount.points >= maxUserAttempts)
      return { status: 'locked', msBeforeNext: userCount.expiresAt - clock };
    // Before any comparison: a wrong attempt must be counted, so when a full store has no room for
    // its counters, no attempt is evaluated at all (a flood must not buy uncounted guesses).
    const missingCounters = (codeCount ? 0 : 1) + (userCount ? 0 : 1);
    if (missingCounters > 0) this.#admit(missingCounters);
    const entry = this.#live(key);
    const record = entry && parseCodeRecord(text(entry));
    if (record && now < record.expiresAt && macsEqual(record.mac, request.mac)) {
      // The right code: redeemed, and its owner's attempts forgotten (counting it first would be undone).
      this.#entries.delete(key);
      this.#counters.delete(attemptsKey);
      this.#counters.delete(userAttemptsKey);
      return { status: 'redeemed' };
    }
    // Every other attempt counts, on the code and on its owner, whatever it finds.
    const counted = this.#consume(attemptsKey, 1, windowMs, clock);
    const user = this.#consume(userAttemptsKey, 1, windowMs, clock);
    if (!record) return { status: 'absent' };
    if (now >= record.expiresAt) {
      this.#entries.delete(key);
      return { status: 'expired' };
    }
    const left = maxAttempts - counted.consumed;
    const userLeft = maxUserAttempts - user.consumed;
    if (Math.min(left, userLeft) <= 0) {
      this.#entries.delete(key);
      return { status: 'locked', msBeforeNext: left <= userLeft ? counted.msBeforeNext : user.msBeforeNext };
    }
    return { status: 'wrong', remaining: Math.min(left, userLeft) };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#entries.clear();
    this.#counters.clear();
  }

  #consume(key: string, points: number, windowMs: number, now: number): ConsumeResult {
    const counter = this.#liveCounter(key, now);
    if (counter) {
      counter.points += points;
      return { consumed: counter.points, msBeforeNext: counter.expiresAt - now };
    }
    if (points === 0) return { consumed: 0, msBeforeNext: 0 };
    this.#admit();
    this.#counters.set(key, { points, expiresAt: now + windowMs });
    return { consumed: points, msBeforeNext: windowMs };
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
   * Makes room for `keys` new keys (default one), or refuses them. Live state is never evicted to
   * make room: evicting the oldest entries let a flood of unauthenticated requests log every user
   * out and make used single-use markers reusable.
   */
  #admit(keys = 1): void {
    if (this.size + keys <= this.#maxEntries) return;
    const now = Date.now();
    if (now - this.#lastFullSweep >= FULL_SWEEP_INTERVAL_MS) {
      this.#lastFullSweep = now;
      this.#sweep();
    }
    if (this.size + keys <= this.#maxEntries) return;
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
