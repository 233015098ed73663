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

/** What `Store.roll()` found; see there. */
export interface RollResult {
  /**
   * `rolled`: `presented` was the current member and `next` replaced it. `current`: it was the
   * current member (no `next` given, nothing changed). `grace`: it was replaced less than
   * `graceMs` ago (nothing changed). `reused`: it was replaced longer ago or never belonged, and
   * the whole record has been deleted. `absent`: there is no record.
   */
  status: 'rolled' | 'current' | 'grace' | 'reused' | 'absent';
  /** The record's `data` (every status but `absent`). */
  data?: string;
  /** The current member after the call (`rolled`, `current`, `grace`). */
  current?: string;
}

/** Most superseded members a rolling record remembers for their grace period. */
export const ROLLING_MAX_PREDECESSORS = 32;

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
  /**
   * Creates (or replaces) a rolling record: fixed `data` and a `current` member, which `roll()`
   * replaces. The record lives `ttlMs`; rolling never extends it.
   */
  setRolling(key: string, data: string, current: string, ttlMs: number): Promise<void>;
  /**
   * Atomically checks `presented` against a rolling record and, when it is the current member and
   * `next` is given, makes `next` current and remembers `presented` as superseded for `graceMs`.
   * A member presented after its grace (or one never current) deletes the whole record: this is
   * reuse detection for rotating tokens. Of concurrent rolls of the same member exactly one gets
   * `rolled`; the others get `grace`. Members are `[A-Za-z0-9_-]` strings.
   */
  roll(key: string, presented: string, next: string | undefined, graceMs: number): Promise<RollResult>;
  /**
   * Adds `member` to the set at `key` for `ttlMs` (each member expires on its own; the set lives
   * as long as its longest-lived member). Adding a member again renews its lifetime.
   */
  addMember(key: string, member: string, ttlMs: number): Promise<void>;
  /** Atomically returns the set's live members and deletes the set. */
  takeMembers(key: string): Promise<string[]>;
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

const MEMBER = /^[A-Za-z0-9_-]+$/;

export function assertMember(member: unknown, name = 'member'): asserts member is string {
  if (typeof member !== 'string' || !MEMBER.test(member)) {
    throw new TypeError(`A store ${name} must be a non-empty string of [A-Za-z0-9_-].`);
  }
}

export function assertGrace(graceMs: unknown): asserts graceMs is number {
  if (typeof graceMs !== 'number' || !Number.isSafeInteger(graceMs) || graceMs < 0) {
    throw new TypeError(`A grace period must be a whole number of milliseconds ≥ 0, got ${String(graceMs)}.`);
  }
}
