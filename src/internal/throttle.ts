import type { IncomingMessage } from 'node:http';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import type { RateLimiterSpec } from '../stores/store.js';
import { positiveIntegerOption } from './options.js';

/**
 * A failure counter on rate-limiter-flexible: `check()` refuses once `points` failures are
 * counted in the window; `record()` counts one; `reset()` forgets them after a success.
 */
export class FailureThrottle {
  constructor(
    private readonly limiter: RateLimiterAbstract,
    private readonly points: number,
  ) {}

  /** Throws `rate_limited` (429) with `retryAfter` when the key has used up its failures. */
  async check(key: string): Promise<void> {
    const res = await this.limiter.get(key);
    if (res !== null && res.consumedPoints >= this.points) throw rateLimitedAfter(res);
  }

  async record(key: string): Promise<void> {
    // penalty() counts without rejecting once the limit is passed, unlike consume().
    await this.limiter.penalty(key, 1);
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }
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
    if (option !== undefined && (option === null || typeof option !== 'object')) {
      throw new ConfigurationError(`${owner}: \`startLimit\` must be an object { points, durationSec }.`);
    }
    const { points, durationSec } = (option ?? {}) as StartLimitOptions;
    this.limiter = store.createRateLimiter({
      keyPrefix,
      points: positiveIntegerOption(points, DEFAULT_START_LIMIT.points, 'startLimit.points', owner),
      durationSec: positiveIntegerOption(
        durationSec,
        DEFAULT_START_LIMIT.durationSec,
        'startLimit.durationSec',
        owner,
      ),
    });
  }

  /** Takes one start for this request's client, or throws `rate_limited` (429). */
  consume(req: IncomingMessage): Promise<void> {
    return consumeOrThrow(this.limiter, clientOf(req), 'Too many login attempts from here. Try again later.');
  }
}

/** The client a request counts against: Express's `req.ip` (trust proxy aware), else the socket's address. */
export function clientOf(req: IncomingMessage): string {
  const ip = (req as { ip?: unknown }).ip;
  if (typeof ip === 'string' && ip !== '') return ip;
  return req.socket?.remoteAddress ?? 'unknown';
}
