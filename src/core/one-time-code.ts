import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { positiveIntegerOption } from '../internal/options.js';
import { rateLimitedAfter } from '../internal/throttle.js';
import { consumeChecked, faultsAsStoreErrors, formatCodeRecord, redeemCode } from '../stores/operations.js';
import { assertStore, type Store } from '../stores/store.js';

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

const MAC_BYTES = 32;

/**
 * One-time codes for a subject (a user), each pending challenge keyed by the subject AND the
 * session binding that asked for it: a send from another session never replaces or locks the
 * owner's pending code.
 *
 * Only a keyed hash of each code is stored, as `<expiry in ms, base 36>.<base64url HMAC of
 * (subject, binding, code)>`. A redemption is ONE atomic store operation (`redeemCode`: one Lua
 * script on Redis, one synchronous step in memory) with the MAC computed before it: it takes an
 * attempt from the challenge's counter, then one from the subject's, so parallel guesses cannot
 * exceed `maxAttempts` per challenge nor `maxAttemptsPerUser` in all, and it deletes a matching
 * code in the same step, so of concurrent redemptions exactly one wins, also across instances.
 * A store without `redeemCode` gets the same guarantees from its primitives in three round trips.
 *
 * Key layout: every key of one subject carries the same Redis hash tag, the subject's key name in
 * braces, so one script may touch them all on Redis Cluster too:
 * `<namespace>:challenge:{<subject>}:<challenge>` (the pending code),
 * `<namespace>:attempts:{<subject>}:<challenge>` (its attempts) and
 * `<namespace>:attempts-user:{<subject>}` (the subject's attempts over all its challenges).
 */
export class OneTimeCodes {
  readonly codeLength: number;
  readonly ttlSeconds: number;
  readonly maxAttempts: number;
  readonly maxAttemptsPerUser: number;
  private readonly secret: Buffer;
  private readonly store: Store;
  private readonly namespace: string;
  private readonly windowMs: number;

  constructor(options: OneTimeCodeOptions) {
    this.secret = secretBytes(options.secret);
    assertStore(options.store, OWNER);
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
    this.windowMs = lockoutSeconds * 1000;
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
   * they look exactly like known ones, timing included.
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
    const code = submitted.replace(/\s+/g, '');
    const wellFormed = /^\d+$/.test(code) && code.length === this.codeLength;
    // The MAC is computed before the store call (a malformed code gets one too, that never
    // matches, so every attempt costs the same and counts).
    const mac = this.codeHash(subject, binding, wellFormed ? code : '').toString('base64url');
    const result = await faultsAsStoreErrors(
      redeemCode(this.store, {
        key: this.challengeKey(subjectKey, challengeId),
        attemptsKey: this.attemptsKey(subjectKey, challengeId),
        userAttemptsKey: this.userAttemptsKey(subjectKey),
        mac,
        maxAttempts: this.maxAttempts,
        maxUserAttempts: this.maxAttemptsPerUser,
        windowMs: this.windowMs,
        now: Date.now(),
      }),
    );
    switch (result.status) {
      case 'redeemed':
        return;
      case 'locked':
        throw locked(result.msBeforeNext ?? this.windowMs);
      case 'expired':
        throw new AuthenticationFailure('expired', 'The code has expired. Ask for a new code.', 401);
      case 'absent':
        throw new AuthenticationFailure(
          'no_pending_challenge',
          'No code is pending. Ask for a new code.',
          401,
        );
      case 'wrong':
        throw new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 401, {
          ...(result.remaining !== undefined ? { details: { attemptsRemaining: result.remaining } } : {}),
        });
    }
  }

  /**
   * Seconds until the subject may try again in this session binding when it is locked (its
   * challenge used up `maxAttempts`, or the subject `maxAttemptsPerUser`), else `undefined`.
   * Without `binding`, only the subject's ceiling is looked at.
   */
  async lockedFor(subject: string, binding?: string): Promise<number | undefined> {
    const subjectKey = this.subjectKey(subject);
    const [user, challenge] = await faultsAsStoreErrors(
      Promise.all([
        consumeChecked(this.store, this.userAttemptsKey(subjectKey), 0, this.windowMs),
        binding === undefined
          ? null
          : consumeChecked(
              this.store,
              this.attemptsKey(subjectKey, this.challengeId(subject, binding)),
              0,
              this.windowMs,
            ),
      ]),
    );
    const waits = [
      user.consumed >= this.maxAttemptsPerUser ? user.msBeforeNext : 0,
      challenge !== null && challenge.consumed >= this.maxAttempts ? challenge.msBeforeNext : 0,
    ];
    const ms = Math.max(...waits);
    return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : undefined;
  }

  /** Withdraws the pending code of this subject and binding (e.g. when it could not be delivered). */
  async cancel(subject: string, binding: string): Promise<void> {
    await faultsAsStoreErrors(this.store.delete(this.challengeKeyFor(subject, binding)));
  }

  /** The store key of a pending challenge; exposed for tests that inspect what is stored. */
  challengeKeyFor(subject: string, binding: string): string {
    return this.challengeKey(this.subjectKey(subject), this.challengeId(subject, binding));
  }

  private async save(subject: string, binding: string, decoy: boolean): Promise<IssuedCode> {
    const code = randomInt(0, 10 ** this.codeLength)
      .toString()
      .padStart(this.codeLength, '0');
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    // A decoy hashes its code too, then stores random bytes that no code matches; the bytes are
    // drawn for a real code as well, so both do the same work (S11).
    const mac = this.codeHash(subject, binding, code);
    const noise = randomBytes(MAC_BYTES);
    const stored = decoy ? noise : mac;
    // Kept twice as long as the code lives, so a late attempt hears "expired", not "no code".
    await faultsAsStoreErrors(
      this.store.set(
        this.challengeKeyFor(subject, binding),
        formatCodeRecord(expiresAt, stored.toString('base64url')),
        this.ttlSeconds * 2000,
      ),
    );
    return { code, expiresAt };
  }

  private hmac(...parts: string[]): Buffer {
    return createHmac('sha256', this.secret).update(parts.join('\0')).digest();
  }

  /** The code's MAC binds it to its subject and session binding. */
  private codeHash(subject: string, binding: string, code: string): Buffer {
    return this.hmac('code', subject, binding, code);
  }

  /** A key name for the subject that does not reveal it: 128 bits of its HMAC are unique enough. */
  private subjectKey(subject: string): string {
    return this.hmac('subject', subject).subarray(0, 16).toString('base64url');
  }

  /** Names one pending challenge: the subject in one session binding (128 bits of an HMAC). */
  private challengeId(subject: string, binding: string): string {
    return this.hmac('challenge', subject, binding).subarray(0, 16).toString('base64url');
  }

  // The {…} hash tag keeps every key of one subject in one Redis Cluster slot (see the class).
  // Keys are joined rather than concatenated: V8 keeps a concatenation as a rope of its pieces, and
  // a pending code's key stays in MemoryStore for minutes (about 200 bytes more per code as a rope).
  private challengeKey(subjectKey: string, challengeId: string): string {
    return [this.namespace, ':challenge:{', subjectKey, '}:', challengeId].join('');
  }

  private attemptsKey(subjectKey: string, challengeId: string): string {
    return [this.namespace, ':attempts:{', subjectKey, '}:', challengeId].join('');
  }

  private userAttemptsKey(subjectKey: string): string {
    return [this.namespace, ':attempts-user:{', subjectKey, '}'].join('');
  }
}

function locked(msBeforeNext: number): AuthenticationFailure {
  return rateLimitedAfter({ msBeforeNext }, 'locked', 'Too many wrong codes. Wait, then ask for a new code.');
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
