import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AuthenticationFailure } from '../errors.js';

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
