import type { IncomingMessage } from 'node:http';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import type { RateLimiterSpec } from '../stores/store.js';
import { positiveIntegerOption } from './options.js';

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
  try {
    await limiter.consume(key);
  } catch (rejection) {
    // rate-limiter-flexible rejects with a RateLimiterRes when the limit is hit, an Error on a fault.
    if (rejection instanceof Error) throw rejection;
    throw rateLimitedAfter(rejection as RateLimiterRes, 'rate_limited', message);
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
 * Limits how much pending state one client can create before it has logged in (SECURITY.md U5):
 * every unauthenticated start takes a point keyed by the client's address. The client is
 * Express's `req.ip`, so behind a proxy the app sets `trust proxy`; without Express it is the
 * socket's address. The bounded store still fails closed for a flood from many addresses.
 */
export class StartLimit {
  private readonly limiter: RateLimiterAbstract;

  constructor(
    store: { createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract },
    keyPrefix: string,
    option: unknown,
    owner: string,
  ) {
    this.limiter = store.createRateLimiter({
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
