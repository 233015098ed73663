import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { positiveIntegerOption } from '../internal/options.js';
import { rateLimitedAfter } from '../internal/throttle.js';
import type { Store } from '../stores/store.js';

const OWNER = 'OneTimeCodes';

export interface OneTimeCodeOptions {
  /** HMAC key for the stored code hashes, ≥ 32 bytes. Every instance sharing the store needs the same. */
  secret: string | Uint8Array;
  store: Store;
  /** Namespace for keys in the store (e.g. `'sms-otp'`). */
  namespace: string;
  /** Digits per code, 6 to 10 (default 6). */
  codeLength?: number;
  /** Seconds a code stays valid (default 300). */
  ttlSeconds?: number;
  /** Attempts per subject before it is locked (default 5); a resend does not reset them. */
  maxAttempts?: number;
  /** Seconds the attempts are counted over, and so the longest lock (default 900). */
  lockoutSeconds?: number;
}

export interface IssuedCode {
  code: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

interface ChallengeRecord {
  /** Random per code, mixed into its hash. */
  n: string;
  /** HMAC of the code. */
  h: string;
  /** HMAC of the session binding. */
  b: string;
  /** Expiry, ms since the epoch. */
  x: number;
}

/**
 * One-time codes for a subject (a user), bound to the session that asked for them.
 *
 * Only keyed hashes are stored (S9). Every redemption first takes an attempt from an atomic
 * counter (rate-limiter-flexible on the store's backend), so parallel guesses cannot exceed
 * `maxAttempts` (S5); a right code is consumed by compare-and-delete, so of concurrent
 * redemptions exactly one wins, also across instances (S3, S4).
 */
export class OneTimeCodes {
  readonly codeLength: number;
  readonly ttlSeconds: number;
  readonly maxAttempts: number;
  private readonly secret: Buffer;
  private readonly store: Store;
  private readonly namespace: string;
  private readonly attempts: RateLimiterAbstract;

  constructor(options: OneTimeCodeOptions) {
    this.secret = secretBytes(options.secret);
    this.store = options.store;
    this.namespace = options.namespace;
    this.codeLength = positiveIntegerOption(options.codeLength, 6, 'codeLength', OWNER);
    if (this.codeLength < 6 || this.codeLength > 10) {
      throw new ConfigurationError(
        `${OWNER}: \`codeLength\` must be 6 to 10 digits (NIST SP 800-63B asks for at least 6).`,
      );
    }
    this.ttlSeconds = positiveIntegerOption(options.ttlSeconds, 300, 'ttlSeconds', OWNER);
    this.maxAttempts = positiveIntegerOption(options.maxAttempts, 5, 'maxAttempts', OWNER);
    const lockoutSeconds = positiveIntegerOption(options.lockoutSeconds, 900, 'lockoutSeconds', OWNER);
    this.attempts = this.store.createRateLimiter({
      keyPrefix: `${this.namespace}:attempts`,
      points: this.maxAttempts,
      durationSec: lockoutSeconds,
    });
  }

  /** Issues a new code, replacing any earlier one for the subject (the attempt count stays). */
  async issue(subject: string, binding: string): Promise<IssuedCode> {
    const code = randomInt(0, 10 ** this.codeLength)
      .toString()
      .padStart(this.codeLength, '0');
    return {
      code,
      expiresAt: await this.save(subject, binding, (nonce) => this.codeHash(subject, nonce, code)),
    };
  }

  /**
   * Stores a challenge that no code can ever match, with the same writes as `issue`: for unknown
   * users in passwordless mode, so they look exactly like known ones (S10).
   */
  async issueDecoy(subject: string, binding: string): Promise<void> {
    await this.save(subject, binding, () => randomBytes(32).toString('base64url'));
  }

  /**
   * Checks a submitted code. Resolves when it is right (and consumes it); otherwise throws an
   * `AuthenticationFailure`: `invalid_code` (401), `expired` (401), `no_pending_challenge` (401)
   * or `locked` (429, with `retryAfter`).
   */
  async redeem(subject: string, binding: string, submitted: string): Promise<void> {
    const subjectKey = this.subjectKey(subject);
    let attempt: RateLimiterRes;
    try {
      attempt = await this.attempts.consume(subjectKey);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) throw locked(rejection);
      throw rejection;
    }
    const key = this.challengeKey(subjectKey);
    const raw = await this.store.get(key);
    const record = raw === undefined ? undefined : parseRecord(raw);
    if (raw === undefined || record === undefined) {
      throw new AuthenticationFailure('no_pending_challenge', 'No code is pending. Ask for a new code.', 401);
    }
    if (Date.now() >= record.x) {
      await this.store.deleteIfEquals(key, raw);
      throw new AuthenticationFailure('expired', 'The code has expired. Ask for a new code.', 401);
    }
    const code = submitted.replace(/\s+/g, '');
    // Both comparisons always run, so a wrong session and a wrong code take the same time.
    const bindingMatches = digestsEqual(this.bindingHash(binding), record.b);
    const codeMatches = /^\d+$/.test(code) && code.length === this.codeLength;
    const hashMatches = digestsEqual(this.codeHash(subject, record.n, codeMatches ? code : ''), record.h);
    if (bindingMatches && codeMatches && hashMatches) {
      if (await this.store.deleteIfEquals(key, raw)) {
        await this.attempts.delete(subjectKey);
        return;
      }
      throw new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 401);
    }
    if (attempt.remainingPoints <= 0) {
      await this.store.deleteIfEquals(key, raw);
      throw locked(attempt);
    }
    throw new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 401, {
      details: { attemptsRemaining: attempt.remainingPoints },
    });
  }

  /** Seconds until the subject may try again when it is locked, else `undefined`. */
  async lockedFor(subject: string): Promise<number | undefined> {
    const res = await this.attempts.get(this.subjectKey(subject));
    if (res === null || res.consumedPoints < this.maxAttempts) return undefined;
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  }

  /** Withdraws the subject's pending code (e.g. when it could not be delivered). */
  async cancel(subject: string): Promise<void> {
    await this.store.delete(this.challengeKey(this.subjectKey(subject)));
  }

  /** The store key of a subject's challenge; exposed for tests that inspect what is stored. */
  challengeKeyFor(subject: string): string {
    return this.challengeKey(this.subjectKey(subject));
  }

  private async save(subject: string, binding: string, hashFor: (nonce: string) => string): Promise<number> {
    const nonce = randomBytes(16).toString('base64url');
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    const record: ChallengeRecord = {
      n: nonce,
      h: hashFor(nonce),
      b: this.bindingHash(binding),
      x: expiresAt,
    };
    // Kept twice as long as the code lives, so a late attempt hears "expired", not "no code".
    await this.store.set(
      this.challengeKey(this.subjectKey(subject)),
      JSON.stringify(record),
      this.ttlSeconds * 2000,
    );
    return expiresAt;
  }

  private hmac(...parts: string[]): string {
    return createHmac('sha256', this.secret).update(parts.join('\0')).digest('base64url');
  }

  private codeHash(subject: string, nonce: string, code: string): string {
    return this.hmac('code', subject, nonce, code);
  }

  private bindingHash(binding: string): string {
    return this.hmac('binding', binding);
  }

  private subjectKey(subject: string): string {
    return this.hmac('subject', subject);
  }

  private challengeKey(subjectKey: string): string {
    return `${this.namespace}:challenge:${subjectKey}`;
  }
}

function locked(res: RateLimiterRes): AuthenticationFailure {
  return rateLimitedAfter(res, 'locked', 'Too many wrong codes. Wait, then ask for a new code.');
}

/** Constant-time comparison of two base64url SHA-256 digests (S8). */
function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'base64url');
  const right = Buffer.from(b, 'base64url');
  return left.length === 32 && right.length === 32 && timingSafeEqual(left, right);
}

function parseRecord(raw: string): ChallengeRecord | undefined {
  try {
    const record = JSON.parse(raw) as Partial<ChallengeRecord>;
    if (
      typeof record.n === 'string' &&
      typeof record.h === 'string' &&
      typeof record.b === 'string' &&
      typeof record.x === 'number'
    ) {
      return record as ChallengeRecord;
    }
  } catch {
    // A record we cannot read is treated as no record.
  }
  return undefined;
}

export function secretBytes(secret: unknown, owner = OWNER): Buffer {
  const bytes =
    typeof secret === 'string'
      ? Buffer.from(secret, 'utf8')
      : secret instanceof Uint8Array
        ? Buffer.from(secret)
        : undefined;
  if (bytes === undefined || bytes.length < 32) {
    throw new ConfigurationError(
      `${owner}: \`secret\` must be at least 32 bytes; generate one with crypto.randomBytes(32).`,
    );
  }
  return bytes;
}
