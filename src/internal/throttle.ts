import type { IncomingMessage } from 'node:http';
import {
  RateLimiterRedis,
  RateLimiterRes,
  type IRateLimiterStoreOptions,
  type RateLimiterAbstract,
  type RateLimiterStoreAbstract,
} from 'rate-limiter-flexible';
import { AuthenticationFailure, ConfigurationError, PassportFactorsError, StoreError } from '../errors.js';
import { consumeChecked, faultsAsStoreErrors } from '../stores/operations.js';
import { assertStore, type ConsumeResult, type Store } from '../stores/store.js';
import { positiveIntegerOption } from './options.js';

/** A throttle a strategy asks for: `points` per `durationSec` window under one key namespace. */
export interface LimiterSpec {
  /** Namespace for this limiter's keys, e.g. `basic-login:fail-user`. */
  keyPrefix: string;
  /** Points that may be consumed per window. */
  points: number;
  /** Window length in seconds. */
  durationSec: number;
}

/**
 * A rate-limiter-flexible limiter over any store's `consume()` counter: the store only counts,
 * rate-limiter-flexible applies the limit, and a store fault (of any kind, from any store) is a
 * `StoreError` (503), never a plain `Error` and never a pass.
 */
export function createLimiter(
  store: Pick<Store, 'consume' | 'delete'>,
  spec: LimiterSpec,
): RateLimiterAbstract {
  assertStore(store, spec.keyPrefix.split(':')[0] ?? 'store');
  return new StoreLimiter(
    { storeClient: null, keyPrefix: spec.keyPrefix, points: spec.points, duration: spec.durationSec },
    store,
  );
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
 * same one its Redis and Memcached limiters use), over `Store.consume()`.
 */
class StoreLimiter extends storeLimiterBase() {
  readonly #store: Pick<Store, 'consume' | 'delete'>;

  constructor(options: IRateLimiterStoreOptions, store: Pick<Store, 'consume' | 'delete'>) {
    super(options);
    this.#store = store;
  }

  _getRateLimiterRes(_rlKey: string, changedPoints: number, result: ConsumeResult): RateLimiterRes {
    return new RateLimiterRes(
      Math.max(this.points - result.consumed, 0),
      result.msBeforeNext,
      result.consumed,
      result.consumed === changedPoints,
    );
  }

  _upsert(rlKey: string, points: number, msDuration: number, forceExpire = false): Promise<ConsumeResult> {
    // No limiter here blocks beyond its window (rate-limiter-flexible's blockDuration).
    if (forceExpire) return Promise.reject(new StoreError('A store limiter cannot block beyond its window.'));
    return faultsAsStoreErrors(consumeChecked(this.#store as Store, rlKey, points, msDuration));
  }

  async _get(rlKey: string): Promise<ConsumeResult | null> {
    const result = await faultsAsStoreErrors(
      consumeChecked(this.#store as Store, rlKey, 0, this.duration * 1000),
    );
    return result.consumed === 0 && result.msBeforeNext <= 0 ? null : result;
  }

  async _delete(rlKey: string): Promise<boolean> {
    await faultsAsStoreErrors(this.#store.delete(rlKey));
    return true;
  }
}

/**
 * A failure counter on rate-limiter-flexible. `reserve()` takes a failure slot BEFORE the check it
 * guards (one atomic `consume`), so a burst of parallel attempts, on one instance or many, can
 * never reach the check more than `points` times per window; `release()` gives a slot back when
 * the attempt turned out not to be a failure, `reset()` forgets every failure of the key.
 */
export class FailureThrottle {
  constructor(private readonly limiter: RateLimiterAbstract) {}

  /** Takes one slot, or throws `rate_limited` (429) with `retryAfter` once the key has none left. */
  async reserve(key: string): Promise<void> {
    await consumeOrThrow(this.limiter, key);
  }

  /** Gives back a slot taken by `reserve()` (the attempt was not a failure). */
  async release(key: string): Promise<void> {
    await this.limiter.reward(key, 1);
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }
}

/**
 * Reserves one slot on every `[throttle, key]` pair at once (parallel, one round trip each). When
 * any refuses, the slots the others took are given back, so a refused attempt counts nowhere, and
 * the refusal is thrown.
 */
export async function reserveAll(
  pairs: ReadonlyArray<readonly [FailureThrottle | undefined, string]>,
): Promise<void> {
  const active = pairs.filter((pair): pair is readonly [FailureThrottle, string] => pair[0] !== undefined);
  const results = await Promise.allSettled(active.map(([throttle, key]) => throttle.reserve(key)));
  const refusal = results.find((result) => result.status === 'rejected');
  if (refusal === undefined) return;
  await Promise.all(
    active.map(([throttle, key], index) =>
      results[index]!.status === 'fulfilled' ? throttle.release(key) : undefined,
    ),
  );
  throw (refusal as PromiseRejectedResult).reason;
}

/** A 429 failure whose `retryAfter` is when the limiter lets the key through again. */
export function rateLimitedAfter(
  res: Pick<RateLimiterRes, 'msBeforeNext'>,
  code: 'rate_limited' | 'locked' = 'rate_limited',
  message = 'Too many attempts. Try again later.',
): AuthenticationFailure {
  const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  return new AuthenticationFailure(code, message, 429, { retryAfter });
}

/** Takes one point from `limiter` for `key`, or throws a 429 failure once the points are used up. */
export async function consumeOrThrow(
  limiter: RateLimiterAbstract,
  key: string,
  message?: string,
): Promise<void> {
  await consumeCounted(limiter, key, (limited) => rateLimitedAfter(limited, 'rate_limited', message));
}

/**
 * Takes one point and answers the limiter's count; past the limit throws what `onLimit` makes of
 * the refusal, and a `StoreError` when the store fails.
 */
export async function consumeCounted(
  limiter: RateLimiterAbstract,
  key: string,
  onLimit: (limited: RateLimiterRes) => Error,
): Promise<RateLimiterRes> {
  try {
    return await limiter.consume(key);
  } catch (rejection) {
    // rate-limiter-flexible rejects with a RateLimiterRes when the limit is hit, an Error on a fault.
    if (rejection instanceof PassportFactorsError) throw rejection;
    if (!(rejection instanceof RateLimiterRes)) {
      throw new StoreError('The store failed while counting attempts.', { cause: rejection });
    }
    throw onLimit(rejection);
  }
}

/** The `startLimit` option of every route that creates pending state before any login. */
export interface StartLimitOptions {
  /** Starts one client (`req.ip`) may make per window (default 30). */
  points?: number;
  /** The window, in seconds (default 60). */
  durationSec?: number;
}

export const DEFAULT_START_LIMIT = { points: 30, durationSec: 60 } as const;

/**
 * Limits how much pending state one client can create before it has logged in:
 * every unauthenticated start takes a point keyed by the client's address. The client is
 * Express's `req.ip`, so behind a proxy the app sets `trust proxy`; without Express it is the
 * socket's address. The bounded store still fails closed for a flood from many addresses.
 */
export class StartLimit {
  private readonly limiter: RateLimiterAbstract;

  constructor(store: Pick<Store, 'consume' | 'delete'>, keyPrefix: string, option: unknown, owner: string) {
    this.limiter = createLimiter(store, {
      keyPrefix,
      ...limitOption(option, DEFAULT_START_LIMIT, 'startLimit', owner),
    });
  }

  /** Takes one start for this request's client, or throws `rate_limited` (429). */
  consume(req: IncomingMessage): Promise<void> {
    return consumeOrThrow(this.limiter, clientOf(req), 'Too many login attempts from here. Try again later.');
  }
}

/**
 * A `{ points, durationSec }` limit option, each part a positive whole number; an absent part takes
 * its default. Errors name the option (`startLimit.points`, …).
 */
export function limitOption(
  option: unknown,
  defaults: { points: number; durationSec: number },
  name: string,
  owner: string,
): { points: number; durationSec: number } {
  if (option !== undefined && (option === null || typeof option !== 'object')) {
    throw new ConfigurationError(`${owner}: \`${name}\` must be an object { points, durationSec }.`);
  }
  const { points, durationSec } = (option ?? {}) as Partial<StartLimitOptions>;
  return {
    points: positiveIntegerOption(points, defaults.points, `${name}.points`, owner),
    durationSec: positiveIntegerOption(durationSec, defaults.durationSec, `${name}.durationSec`, owner),
  };
}

/** The client a request counts against: Express's `req.ip` (trust proxy aware), else the socket's address. */
export function clientOf(req: IncomingMessage): string {
  const ip = (req as { ip?: unknown }).ip;
  if (typeof ip === 'string' && ip !== '') return ip;
  return req.socket?.remoteAddress ?? 'unknown';
}
