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
    await this.save(subject, binding, () => randomBytes(32));
  }

  /**
   * Checks a submitted code. Resolves when it is right (and consumes it); otherwise throws an
   * `AuthenticationFailure`: `invalid_code` (401), `expired` (401), `no_pending_challenge` (401)
   * or `locked` (429, with `retryAfter`).
   */
  async redeem(subject: string, binding: string, submitted: string): Promise<void> {
    const subjectKey = this.subjectKey(subject);
    const key = this.challengeKey(subjectKey);
    // The attempt is counted and the challenge read in one round trip: the read changes nothing,
    // and single use rests on the compare-and-delete below, not on this order.
    const [counted, read] = await Promise.allSettled([
      this.attempts.consume(subjectKey),
      this.store.get(key),
    ]);
    if (counted.status === 'rejected') {
      if (counted.reason instanceof RateLimiterRes) throw locked(counted.reason);
      throw counted.reason;
    }
    const attempt = counted.value;
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

  private async save(subject: string, binding: string, hashFor: (nonce: string) => Buffer): Promise<number> {
    const nonceBytes = randomBytes(NONCE_BYTES);
    const nonce = nonceBytes.toString('base64url');
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    const packed = Buffer.concat([nonceBytes, hashFor(nonce), this.bindingHash(binding)]);
    // Kept twice as long as the code lives, so a late attempt hears "expired", not "no code".
    await this.store.set(
      this.challengeKey(this.subjectKey(subject)),
      `${expiresAt.toString(36)}.${packed.toString('base64url')}`,
      this.ttlSeconds * 2000,
    );
    return expiresAt;
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

  private challengeKey(subjectKey: string): string {
    return `${this.namespace}:challenge:${subjectKey}`;
  }
}

function locked(res: RateLimiterRes): AuthenticationFailure {
  return rateLimitedAfter(res, 'locked', 'Too many wrong codes. Wait, then ask for a new code.');
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
