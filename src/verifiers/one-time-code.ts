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
  /** Where pending codes and attempt counters live. Required. */
  store: Store;
  /** Namespace for keys in the store (e.g. `'sms-otp'`). */
  namespace: string;
  /** Digits per code, 6 to 10 (default 6). */
  codeLength?: number;
  /** Seconds a code stays valid (default 300). */
  ttlSeconds?: number;
  /**
   * Attempts per pending challenge, i.e. per (subject, session binding), before it is locked
   * (default 5); a resend to the same binding does not reset them.
   */
  maxAttempts?: number;
  /**
   * Attempts per subject over all its challenges, whichever session made them, before every one
   * of them is locked (default 30). Only attempts a challenge still allowed are counted, so a
   * locked challenge cannot be used to spend the subject's budget.
   */
  maxAttemptsPerUser?: number;
  /** Seconds the attempts are counted over, and so the longest lock (default 900). */
  lockoutSeconds?: number;
}

export interface IssuedCode {
  code: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

const NONCE_BYTES = 16;
const MAC_BYTES = 32;

/**
 * A pending code. Stored packed, as `<expiry in ms, base 36>.<base64url of nonce ‖ code MAC ‖
 * binding MAC>` (16 + 32 + 32 bytes): half the size of JSON, so 100,000 pending codes fit in
 * under 40 MB of a `MemoryStore` (benchmark B-MEM).
 */
interface ChallengeRecord {
  /** Random per code, mixed into its hash (base64url of 16 bytes). */
  nonce: string;
  /** HMAC of the code. */
  codeMac: Buffer;
  /** HMAC of the session binding. */
  bindingMac: Buffer;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

/**
 * One-time codes for a subject (a user), each pending challenge keyed by the subject AND the
 * session binding that asked for it: a send from another session never replaces or locks the
 * owner's pending code (S12).
 *
 * Only keyed hashes are stored (S9). Every redemption first takes an attempt from the
 * challenge's atomic counter, then one from the subject's (rate-limiter-flexible on the store's
 * backend), so parallel guesses cannot exceed `maxAttempts` per challenge nor
 * `maxAttemptsPerUser` in all (S5, S12); a right code is consumed by compare-and-delete, so of
 * concurrent redemptions exactly one wins, also across instances (S3, S4).
 */
export class OneTimeCodes {
  readonly codeLength: number;
  readonly ttlSeconds: number;
  readonly maxAttempts: number;
  readonly maxAttemptsPerUser: number;
  private readonly secret: Buffer;
  private readonly store: Store;
  private readonly namespace: string;
  private readonly attempts: RateLimiterAbstract;
  private readonly userAttempts: RateLimiterAbstract;

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
    this.maxAttemptsPerUser = positiveIntegerOption(
      options.maxAttemptsPerUser,
      30,
      'maxAttemptsPerUser',
      OWNER,
    );
    const lockoutSeconds = positiveIntegerOption(options.lockoutSeconds, 900, 'lockoutSeconds', OWNER);
    this.attempts = this.store.createRateLimiter({
      keyPrefix: `${this.namespace}:attempts`,
      points: this.maxAttempts,
      durationSec: lockoutSeconds,
    });
    this.userAttempts = this.store.createRateLimiter({
      keyPrefix: `${this.namespace}:attempts-user`,
      points: this.maxAttemptsPerUser,
      durationSec: lockoutSeconds,
    });
  }

  /**
   * Issues a new code for the subject in this session binding, replacing an earlier one of the
   * same binding only (the attempt counts stay). Other sessions' pending codes are left alone.
   */
  async issue(subject: string, binding: string): Promise<IssuedCode> {
    return this.save(subject, binding, false);
  }

  /**
   * Stores a challenge that no code can ever match, doing the same work as `issue` (a code is
   * drawn and hashed, then the hash is thrown away): for unknown users in passwordless mode, so
   * they look exactly like known ones, timing included (S10, S11).
   */
  async issueDecoy(subject: string, binding: string): Promise<void> {
    await this.save(subject, binding, true);
  }

  /**
   * Checks a submitted code. Resolves when it is right (and consumes it); otherwise throws an
   * `AuthenticationFailure`: `invalid_code` (401), `expired` (401), `no_pending_challenge` (401)
   * or `locked` (429, with `retryAfter`).
   */
  async redeem(subject: string, binding: string, submitted: string): Promise<void> {
    const subjectKey = this.subjectKey(subject);
    const challengeId = this.challengeId(subject, binding);
    const key = this.challengeKey(challengeId);
    // The attempt is counted and the challenge read in one round trip: the read changes nothing,
    // and single use rests on the compare-and-delete below, not on this order.
    const [counted, read] = await Promise.allSettled([
      this.attempts.consume(challengeId),
      this.store.get(key),
    ]);
    if (counted.status === 'rejected') throw lockedOr(counted.reason);
    // Only after the challenge allowed the attempt: a session already locked must not be able to
    // spend the subject's budget and so lock the owner's sessions out (S12).
    let userAttempt: RateLimiterRes;
    try {
      userAttempt = await this.userAttempts.consume(subjectKey);
    } catch (rejection) {
      throw lockedOr(rejection);
    }
    const attempt =
      counted.value.remainingPoints <= userAttempt.remainingPoints ? counted.value : userAttempt;
    if (read.status === 'rejected') throw read.reason;
    const raw = read.value;
    const record = raw === undefined ? undefined : parseRecord(raw);
    if (raw === undefined || record === undefined) {
      throw new AuthenticationFailure('no_pending_challenge', 'No code is pending. Ask for a new code.', 401);
    }
    if (Date.now() >= record.expiresAt) {
      await this.store.deleteIfEquals(key, raw);
      throw new AuthenticationFailure('expired', 'The code has expired. Ask for a new code.', 401);
    }
    const code = submitted.replace(/\s+/g, '');
    // Both comparisons always run, so a wrong session and a wrong code take the same time.
    const bindingMatches = digestsEqual(this.bindingHash(binding), record.bindingMac);
    const codeMatches = /^\d+$/.test(code) && code.length === this.codeLength;
    const hashMatches = digestsEqual(
      this.codeHash(subject, record.nonce, codeMatches ? code : ''),
      record.codeMac,
    );
    if (bindingMatches && codeMatches && hashMatches) {
      if (await this.store.deleteIfEquals(key, raw)) {
        // The owner proved possession: failures so far, also a stranger's, are forgotten.
        await Promise.all([this.attempts.delete(challengeId), this.userAttempts.delete(subjectKey)]);
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

  /**
   * Seconds until the subject may try again in this session binding when it is locked (its
   * challenge used up `maxAttempts`, or the subject `maxAttemptsPerUser`), else `undefined`.
   * Without `binding`, only the subject's ceiling is looked at.
   */
  async lockedFor(subject: string, binding?: string): Promise<number | undefined> {
    const [user, challenge] = await Promise.all([
      this.userAttempts.get(this.subjectKey(subject)),
      binding === undefined ? null : this.attempts.get(this.challengeId(subject, binding)),
    ]);
    const waits = [
      user !== null && user.consumedPoints >= this.maxAttemptsPerUser ? user.msBeforeNext : 0,
      challenge !== null && challenge.consumedPoints >= this.maxAttempts ? challenge.msBeforeNext : 0,
    ];
    const ms = Math.max(...waits);
    return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : undefined;
  }

  /** Withdraws the pending code of this subject and binding (e.g. when it could not be delivered). */
  async cancel(subject: string, binding: string): Promise<void> {
    await this.store.delete(this.challengeKey(this.challengeId(subject, binding)));
  }

  /** The store key of a pending challenge; exposed for tests that inspect what is stored. */
  challengeKeyFor(subject: string, binding: string): string {
    return this.challengeKey(this.challengeId(subject, binding));
  }

  private async save(subject: string, binding: string, decoy: boolean): Promise<IssuedCode> {
    const code = randomInt(0, 10 ** this.codeLength)
      .toString()
      .padStart(this.codeLength, '0');
    const nonceBytes = randomBytes(NONCE_BYTES);
    const nonce = nonceBytes.toString('base64url');
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    // A decoy hashes its code too (same work), then stores random bytes that no code matches.
    const codeMac = this.codeHash(subject, nonce, code);
    const packed = Buffer.concat([
      nonceBytes,
      decoy ? randomBytes(MAC_BYTES) : codeMac,
      this.bindingHash(binding),
    ]);
    // Kept twice as long as the code lives, so a late attempt hears "expired", not "no code".
    await this.store.set(
      this.challengeKey(this.challengeId(subject, binding)),
      `${expiresAt.toString(36)}.${packed.toString('base64url')}`,
      this.ttlSeconds * 2000,
    );
    return { code, expiresAt };
  }

  private hmac(...parts: string[]): Buffer {
    return createHmac('sha256', this.secret).update(parts.join('\0')).digest();
  }

  private codeHash(subject: string, nonce: string, code: string): Buffer {
    return this.hmac('code', subject, nonce, code);
  }

  private bindingHash(binding: string): Buffer {
    return this.hmac('binding', binding);
  }

  /** A key name for the subject that does not reveal it: 128 bits of its HMAC are unique enough. */
  private subjectKey(subject: string): string {
    return this.hmac('subject', subject).subarray(0, 16).toString('base64url');
  }

  /** Names one pending challenge: the subject in one session binding (128 bits of an HMAC). */
  private challengeId(subject: string, binding: string): string {
    return this.hmac('challenge', subject, binding).subarray(0, 16).toString('base64url');
  }

  private challengeKey(challengeId: string): string {
    return `${this.namespace}:challenge:${challengeId}`;
  }
}

function locked(res: RateLimiterRes): AuthenticationFailure {
  return rateLimitedAfter(res, 'locked', 'Too many wrong codes. Wait, then ask for a new code.');
}

/** rate-limiter-flexible rejects with a `RateLimiterRes` when the points are used up, an Error on a fault. */
function lockedOr(rejection: unknown): unknown {
  return rejection instanceof RateLimiterRes ? locked(rejection) : rejection;
}

/** Constant-time comparison of two SHA-256 digests (S8). */
function digestsEqual(left: Buffer, right: Buffer): boolean {
  return left.length === MAC_BYTES && right.length === MAC_BYTES && timingSafeEqual(left, right);
}

function parseRecord(raw: string): ChallengeRecord | undefined {
  // A record we cannot read (an older format included) is treated as no record.
  const dot = raw.indexOf('.');
  if (dot < 1) return undefined;
  const expiresAt = Number.parseInt(raw.slice(0, dot), 36);
  const packed = Buffer.from(raw.slice(dot + 1), 'base64url');
  if (!Number.isSafeInteger(expiresAt) || packed.length !== NONCE_BYTES + 2 * MAC_BYTES) return undefined;
  return {
    nonce: packed.subarray(0, NONCE_BYTES).toString('base64url'),
    codeMac: packed.subarray(NONCE_BYTES, NONCE_BYTES + MAC_BYTES),
    bindingMac: packed.subarray(NONCE_BYTES + MAC_BYTES),
    expiresAt,
  };
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
