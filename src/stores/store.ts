import { ConfigurationError } from '../errors.js';

/** What `Store.consume()` answers: the counter after the call. */
export interface ConsumeResult {
  /** Points consumed in the counter's current window, this call's included (0 without a counter). */
  consumed: number;
  /** Milliseconds until the window ends and the counter is forgotten (0 without a counter). */
  msBeforeNext: number;
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

/**
 * One attempt at a one-time code, for `Store.redeemCode()`. The three keys share one Redis hash
 * slot (one `{…}` hash tag), so one script may touch them all, also on Redis Cluster.
 */
export interface CodeRedemption {
  /** The pending code: `<expiry, ms since the epoch in base 36>.<base64url MAC>`. */
  key: string;
  /** The attempt counter of this pending code (a `consume()` counter). */
  attemptsKey: string;
  /** The attempt counter of the code's owner over all their codes (a `consume()` counter). */
  userAttemptsKey: string;
  /** The MAC of the submitted code, base64url: equal to the stored one when the code is right. */
  mac: string;
  /** Attempts allowed per pending code in the window. */
  maxAttempts: number;
  /** Attempts allowed per owner, over all their codes, in the window. */
  maxUserAttempts: number;
  /** The attempt counters' window in ms. */
  windowMs: number;
  /** Now, in ms since the epoch (the clock that wrote the expiry). */
  now: number;
}

/** What `Store.redeemCode()` decided. */
export interface CodeRedemptionResult {
  /**
   * `redeemed`: the MAC matched; the code and both counters are deleted. `wrong`: it did not;
   * both counters took the attempt. `locked`: a counter had no attempt left (the code is deleted
   * when the wrong attempt that used the last one made it so). `expired`: past its expiry (deleted).
   * `absent`: no readable code.
   */
  status: 'redeemed' | 'wrong' | 'locked' | 'expired' | 'absent';
  /** Attempts left after a `wrong` one: the smaller of the two counters' rest. */
  remaining?: number;
  /** For `locked`: ms until the counter that locked forgets its attempts. */
  msBeforeNext?: number;
}

/** Most superseded members a rolling record remembers for their grace period. */
export const ROLLING_MAX_PREDECESSORS = 32;

/**
 * What strategies keep between requests: pending challenges, token families, counters.
 *
 * A custom store implements the required methods; each must be atomic on its key (on every
 * instance sharing the store), which is what single use, attempt limits and token rotation rest
 * on. The optional methods are one-step versions of operations the library otherwise builds on
 * the required ones (`src/stores/operations.ts`), with the same guarantees; a store that has them
 * saves round trips. Values are strings: callers serialise, and validate what they read back.
 * Counters of `consume()` may share the key space with values: `delete()` removes either.
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
  /**
   * Atomically writes `value` for `ttlMs` only if the key still holds `expected`, or, with
   * `expected` `undefined`, only if it holds nothing; answers whether it wrote. Of concurrent
   * callers holding the same `expected`, exactly one gets `true`.
   */
  compareAndSet(key: string, expected: string | undefined, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes the key (a value or a counter); deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Atomically adds 1 and returns the new count. The first increment starts a `ttlMs` lifetime
   * that later increments do not extend, so a counter always dies at the end of its window.
   */
  increment(key: string, ttlMs: number): Promise<number>;
  /**
   * The counter under every throttle: atomically adds `points` (a whole number; negative gives
   * points back) to the counter at `key` and answers the total and the time left in its window.
   * An absent or expired counter starts from 0 with a `windowMs` window that later calls do not
   * extend. With `points` 0 it only reads: an absent counter stays absent (`{ consumed: 0,
   * msBeforeNext: 0 }`). The limits themselves are applied by the library (rate-limiter-flexible
   * over this counter), so a store implements no limiter.
   */
  consume(key: string, points: number, windowMs: number): Promise<ConsumeResult>;
  /** Releases what the store holds (timers; never the app's own Redis client). */
  close(): Promise<void>;

  /**
   * Optional. Creates (or replaces) a rolling record: fixed `data` and a `current` member, which
   * `roll()` replaces. The record lives `ttlMs`; rolling never extends it. A store that has
   * `setRolling` must have `roll`, and the other way round (they share a record format).
   */
  setRolling?(key: string, data: string, current: string, ttlMs: number): Promise<void>;
  /**
   * Optional. Atomically checks `presented` against a rolling record and, when it is the current
   * member and `next` is given, makes `next` current and remembers `presented` as superseded for
   * `graceMs`. A member presented after its grace (or one never current) deletes the whole
   * record: this is reuse detection for rotating tokens. Of concurrent rolls of the same member
   * exactly one gets `rolled`; the others get `grace`. Members are `[A-Za-z0-9_-]` strings.
   */
  roll?(key: string, presented: string, next: string | undefined, graceMs: number): Promise<RollResult>;
  /**
   * Optional (with `takeMembers`). Adds `member` to the set at `key` for `ttlMs` (each member
   * expires on its own; the set lives as long as its longest-lived member). Adding a member again
   * renews its lifetime; concurrent adds all land.
   */
  addMember?(key: string, member: string, ttlMs: number): Promise<void>;
  /** Optional (with `addMember`). Atomically returns the set's live members and deletes the set. */
  takeMembers?(key: string): Promise<string[]>;
  /**
   * Optional. One attempt at a one-time code in one atomic step: `locked`, spending nothing,
   * when the code's counter or the owner's has no attempt left; else compares the MAC in
   * constant time and, when it matches, deletes the code and both counters (the attempt of a
   * right code is never counted, since it would be forgotten at once); any other attempt takes
   * one from both counters. Of concurrent redemptions exactly one is `redeemed`. See
   * `CodeRedemptionResult`.
   */
  redeemCode?(request: CodeRedemption): Promise<CodeRedemptionResult>;
}

const REQUIRED: ReadonlyArray<keyof Store> = [
  'set',
  'get',
  'take',
  'deleteIfEquals',
  'compareAndSet',
  'delete',
  'increment',
  'consume',
  'close',
];

/**
 * Refuses, when it is configured, a store that lacks a required method (e.g. one written for an
 * older version of the interface), naming what is missing.
 */
export function assertStore(store: unknown, owner: string): asserts store is Store {
  const missing = REQUIRED.filter(
    (name) => typeof (store as Record<string, unknown> | null | undefined)?.[name] !== 'function',
  );
  if (missing.length > 0) {
    throw new ConfigurationError(
      `${owner}: \`store\` must implement the Store interface; it lacks ${missing.join(', ')}.`,
    );
  }
}

export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TypeError('A store key must be a non-empty string.');
  }
}

export function assertValue(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new TypeError('A store value must be a string.');
}

export function assertTtl(ttlMs: unknown): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new TypeError(`A store TTL must be a positive whole number of milliseconds, got ${String(ttlMs)}.`);
  }
}

export function assertPoints(points: unknown): asserts points is number {
  if (typeof points !== 'number' || !Number.isSafeInteger(points)) {
    throw new TypeError(`Counter points must be a whole number, got ${String(points)}.`);
  }
}

const MEMBER = /^[A-Za-z0-9_-]+$/;

/** Whether `value` can be a rolling record's or a set's member: a non-empty string of [A-Za-z0-9_-]. */
export function isMember(value: unknown): value is string {
  return typeof value === 'string' && MEMBER.test(value);
}

export function assertMember(member: unknown, name = 'member'): asserts member is string {
  if (!isMember(member)) {
    throw new TypeError(`A store ${name} must be a non-empty string of [A-Za-z0-9_-].`);
  }
}

export function assertGrace(graceMs: unknown): asserts graceMs is number {
  if (typeof graceMs !== 'number' || !Number.isSafeInteger(graceMs) || graceMs < 0) {
    throw new TypeError(`A grace period must be a whole number of milliseconds ≥ 0, got ${String(graceMs)}.`);
  }
}

export function assertRedemption(request: CodeRedemption): void {
  assertKey(request?.key);
  assertKey(request.attemptsKey);
  assertKey(request.userAttemptsKey);
  assertMember(request.mac, 'code MAC');
  for (const n of [request.maxAttempts, request.maxUserAttempts, request.windowMs, request.now]) assertTtl(n);
}
