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
    if (res !== null && res.consumedPoints >= this.points) throw rateLimited(res);
  }

  async record(key: string): Promise<void> {
    // penalty() counts without rejecting once the limit is passed, unlike consume().
    await this.limiter.penalty(key, 1);
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }
}

export function rateLimited(res: Pick<RateLimiterRes, 'msBeforeNext'>): AuthenticationFailure {
  const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  return new AuthenticationFailure('rate_limited', 'Too many attempts. Try again later.', 429, {
    retryAfter,
  });
}
