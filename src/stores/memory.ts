import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ConfigurationError } from '../errors.js';
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
    this.#makeRoom();
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
