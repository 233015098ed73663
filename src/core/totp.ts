import { createHmac, hkdfSync, randomInt, webcrypto } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { createRequire } from 'node:module';
import { Secret, TOTP } from 'otpauth';
import type QRCodeModule from 'qrcode';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import {
  AuthenticationFailure,
  ConfigurationError,
  PassportFactorsError,
  StoreError,
  type FailureCode,
} from '../errors.js';
import { auditHook, functionOption, positiveIntegerOption, requireFunction } from '../internal/options.js';
import { consumeCounted, createLimiter, rateLimitedAfter } from '../internal/throttle.js';
import { userIdOf, type User } from '../internal/verify.js';
import { MemoryStore } from '../stores/memory.js';
import { faultsAsStoreErrors } from '../stores/operations.js';
import { assertStore, type Store } from '../stores/store.js';
import { secretBytes } from './one-time-code.js';

const OWNER = 'TotpStrategy';

/** RFC 6238 as every authenticator app implements it: 6 digits, 30-second steps, HMAC-SHA1. */
const DIGITS = 6;
const PERIOD_SECONDS = 30;
const ALGORITHM = 'SHA1';
/** 160 bits: the HMAC-SHA1 key length RFC 4226 §4 recommends. */
const SECRET_BYTES = 20;
/** Recovery codes: 16 characters of a 32-letter alphabet, 80 bits each. */
const RECOVERY_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const RECOVERY_LENGTH = 16;
// A sealed secret's JWE: its content type, and the header naming its owner (a keyed hash).
const SEALED_TYPE = 'pf-totp-secret';
const OWNER_HEADER = 'pf-owner';
/** Tries at a compare-and-set of the last used step before the store is called unreliable. */
const MAX_STEP_CLAIMS = 8;

/** Audit events; never a code, a secret, a URI or a recovery code. */
export type TotpEvent =
  | { type: 'enrollment_started'; userId: string }
  | { type: 'enrolled'; userId: string }
  | { type: 'verified'; userId: string; method: 'totp' | 'recovery_code' }
  | { type: 'failed'; userId: string; code: FailureCode }
  | { type: 'locked'; userId: string; retryAfter: number | undefined }
  | { type: 'recovery_codes_generated'; userId: string; count: number };

/** The options of the passport-free `TotpFactor` (and of `TotpStrategy`, which adds its Passport ones). */
export interface TotpOptions {
  /** The issuer shown in the authenticator app and put in the `otpauth://` URI (e.g. your site's name). Required. */
  issuer: string;
  /**
   * Key material, ≥ 32 bytes, from which the library derives (HKDF-SHA256) the A256GCM key that
   * encrypts TOTP secrets at rest, the HMAC key of recovery codes and the HMAC key of store key
   * names. Required. Keep it out of the user database: a database dump alone then reveals no secret.
   */
  secret: string | Uint8Array;
  /**
   * Reads the user's enrolled TOTP secret as `saveSecret` was given it (an opaque, encrypted
   * string); `undefined`/`null` when the user has not enrolled. Required.
   */
  loadSecret: (user: User) => string | undefined | null | Promise<string | undefined | null>;
  /** Stores the user's TOTP secret (an opaque, encrypted string), replacing any earlier one. Required. */
  saveSecret: (user: User, sealedSecret: string) => void | Promise<void>;
  /**
   * Stores the user's recovery codes as HMACs (base64url strings), replacing all earlier ones
   * (default none: recovery codes are off). Give it together with `consumeRecoveryCode`.
   */
  saveRecoveryCodes?: (user: User, codeHashes: string[]) => void | Promise<void>;
  /**
   * Deletes `codeHash` from the user's stored recovery codes if it is there, and answers whether it
   * deleted it (default none: recovery codes are off). Must be atomic (e.g. `DELETE … WHERE user = ?
   * AND hash = ?` and its row count): of two concurrent calls with one hash, one answers `true`.
   */
  consumeRecoveryCode?: (user: User, codeHash: string) => boolean | Promise<boolean>;
  /** Last used time steps, pending enrollments and attempt counters; share it between instances (default: a new `MemoryStore`). */
  store?: Store;
  /** The user's id (default `String(user.id)`). */
  getUserId?: (user: User) => string;
  /** The account name shown in the authenticator app (default `user.email`, else `user.username`, else the user id). */
  getAccountName?: (user: User) => string;
  /**
   * Time steps of 30 s accepted before and after the current one, for clock drift (default 1, so
   * a code is good for 90 s at most; 0 to 3).
   */
  window?: number;
  /** Wrong codes (TOTP, recovery or replayed) per user within `lockoutSeconds` before the user is locked (default 5). */
  maxAttempts?: number;
  /** Seconds attempts are counted over, and so the longest lock (default 900). */
  lockoutSeconds?: number;
  /** Recovery codes per generation (default 10). */
  recoveryCodeCount?: number;
  /** Seconds an enrollment waits for its first code (default 600). */
  enrollmentTtlSeconds?: number;
  /** Add a QR image (`data:image/png` URL) to the enrollment; needs the optional peer `qrcode` (default `true`). */
  qrCode?: boolean;
  /** Audit hook (default none): enrollment_started, enrolled, verified, failed, locked, recovery_codes_generated. */
  onEvent?: (event: TotpEvent) => void;
}

/** What `startEnrollment` gives the user to add the account to an authenticator app, once. */
export interface TotpEnrollment {
  /** The `otpauth://totp/…` URI (it holds the secret: show it to this user only). */
  uri: string;
  /** The URI as a QR code, a `data:image/png;base64,…` URL (absent with `qrCode: false`). */
  qr?: string;
  /** The secret in base32, for typing it into an app by hand. */
  manualEntryKey: string;
  /** Seconds left to confirm with a first code. */
  expiresIn: number;
}

/** How a `verify` succeeded. */
export interface TotpVerification {
  method: 'totp' | 'recovery_code';
}

/**
 * TOTP (RFC 6238) as a second factor, passport-free: enrollment with an `otpauth://` URI and a QR
 * image, confirmed by a first code; verification with a ±`window` step tolerance; each accepted
 * time step single use; lockout after `maxAttempts`; recovery codes.
 *
 * Secrets at rest: sealed here as a compact JWE (`jose`, `dir` + A256GCM, the key from the app's
 * `secret` via HKDF) bound to the user by a keyed hash in its authenticated header, then handed to the app's `saveSecret` as an opaque string. Built in
 * rather than left to encrypt/decrypt hooks so that an app cannot store secrets in the clear by
 * forgetting a hook, and so that a row copied to another user does not decrypt.
 *
 * Single use: the last accepted time step of (user, secret) is kept in the store and only ever
 * moved forward by `compareAndSet`, so of concurrent submissions of one code (on any instance
 * sharing the store) exactly one wins, and a code of an earlier step is refused after a later one.
 */
export class TotpFactor {
  readonly window: number;
  readonly maxAttempts: number;
  readonly recoveryCodeCount: number;
  readonly enrollmentTtlSeconds: number;
  readonly emit: (event: TotpEvent) => void;
  readonly recoveryCodesEnabled: boolean;
  private readonly issuer: string;
  /** Imported once: given raw bytes, jose would import the key again for every seal and unseal. */
  private readonly encryptionKey: Promise<webcrypto.CryptoKey>;
  private readonly recoveryKey: Buffer;
  private readonly nameKey: Buffer;
  private readonly store: Store;
  private readonly attempts: RateLimiterAbstract;
  private readonly loadSecret: TotpOptions['loadSecret'];
  private readonly saveSecret: TotpOptions['saveSecret'];
  private readonly saveRecoveryCodes: NonNullable<TotpOptions['saveRecoveryCodes']> | undefined;
  private readonly consumeRecoveryCode: NonNullable<TotpOptions['consumeRecoveryCode']> | undefined;
  private readonly getUserId: (user: User) => string;
  private readonly getAccountName: (user: User) => string;
  private readonly qr: typeof QRCodeModule | undefined;

  constructor(options: TotpOptions, owner = OWNER) {
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${owner}: options are required.`);
    if (typeof options.issuer !== 'string' || options.issuer.trim() === '' || options.issuer.includes(':')) {
      throw new ConfigurationError(
        `${owner}: \`issuer\` is required: a non-empty name without ":" shown in the authenticator app.`,
      );
    }
    this.issuer = options.issuer;
    const keyMaterial = secretBytes(options.secret, owner);
    this.encryptionKey = webcrypto.subtle.importKey(
      'raw',
      derive(keyMaterial, 'passport-factors totp secret encryption'),
      'AES-GCM',
      false,
      ['encrypt', 'decrypt'],
    );
    this.recoveryKey = derive(keyMaterial, 'passport-factors totp recovery codes');
    this.nameKey = derive(keyMaterial, 'passport-factors totp store keys');
    requireFunction(options.loadSecret, 'loadSecret', owner);
    requireFunction(options.saveSecret, 'saveSecret', owner);
    this.loadSecret = options.loadSecret;
    this.saveSecret = options.saveSecret;
    if ((options.saveRecoveryCodes === undefined) !== (options.consumeRecoveryCode === undefined)) {
      throw new ConfigurationError(
        `${owner}: give both \`saveRecoveryCodes\` and \`consumeRecoveryCode\` for recovery codes, or neither.`,
      );
    }
    if (options.saveRecoveryCodes !== undefined) {
      requireFunction(options.saveRecoveryCodes, 'saveRecoveryCodes', owner);
      requireFunction(options.consumeRecoveryCode, 'consumeRecoveryCode', owner);
    }
    this.saveRecoveryCodes = options.saveRecoveryCodes;
    this.consumeRecoveryCode = options.consumeRecoveryCode;
    this.recoveryCodesEnabled = options.saveRecoveryCodes !== undefined;
    const store = options.store ?? new MemoryStore();
    assertStore(store, owner);
    this.store = store;
    this.getUserId = functionOption(
      options.getUserId,
      (user: User) => userIdOf(user, owner),
      'getUserId',
      owner,
    );
    this.getAccountName = functionOption(
      options.getAccountName,
      (user: User) => defaultAccountName(user, this.getUserId),
      'getAccountName',
      owner,
    );
    if (
      options.window !== undefined &&
      (typeof options.window !== 'number' ||
        !Number.isSafeInteger(options.window) ||
        options.window < 0 ||
        options.window > 3)
    ) {
      throw new ConfigurationError(
        `${owner}: \`window\` must be a whole number from 0 to 3 (time steps of 30 s).`,
      );
    }
    this.window = options.window ?? 1;
    this.maxAttempts = positiveIntegerOption(options.maxAttempts, 5, 'maxAttempts', owner);
    const lockoutSeconds = positiveIntegerOption(options.lockoutSeconds, 900, 'lockoutSeconds', owner);
    this.attempts = createLimiter(store, {
      keyPrefix: 'totp:attempts',
      points: this.maxAttempts,
      durationSec: lockoutSeconds,
    });
    this.recoveryCodeCount = positiveIntegerOption(options.recoveryCodeCount, 10, 'recoveryCodeCount', owner);
    if (this.recoveryCodeCount > 100)
      throw new ConfigurationError(`${owner}: \`recoveryCodeCount\` must be at most 100.`);
    this.enrollmentTtlSeconds = positiveIntegerOption(
      options.enrollmentTtlSeconds,
      600,
      'enrollmentTtlSeconds',
      owner,
    );
    if (options.qrCode !== undefined && typeof options.qrCode !== 'boolean')
      throw new ConfigurationError(`${owner}: \`qrCode\` must be true or false.`);
    this.qr = options.qrCode === false ? undefined : loadQrCode(owner);
    this.emit = auditHook<TotpEvent>(options.onEvent, owner);
  }

  /**
   * Starts (or restarts) an enrollment: a new random secret, kept pending in the store for
   * `enrollmentTtlSeconds` until `confirmEnrollment` sees a first code from it. An enrolled
   * secret stays in force until then.
   */
  async startEnrollment(user: User): Promise<TotpEnrollment> {
    const userId = this.getUserId(user);
    const secret = new Secret({ size: SECRET_BYTES });
    const totp = new TOTP({
      issuer: this.issuer,
      label: this.getAccountName(user),
      algorithm: ALGORITHM,
      digits: DIGITS,
      period: PERIOD_SECONDS,
      secret,
    });
    const sealed = await this.seal(userId, secret.bytes);
    await faultsAsStoreErrors(
      this.store.set(this.enrollmentKey(userId), sealed, this.enrollmentTtlSeconds * 1000),
    );
    const uri = totp.toString();
    const qr = this.qr ? await this.qr.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2 }) : undefined;
    this.emit({ type: 'enrollment_started', userId });
    return {
      uri,
      ...(qr ? { qr } : {}),
      manualEntryKey: secret.base32,
      expiresIn: this.enrollmentTtlSeconds,
    };
  }

  /**
   * Confirms the pending enrollment with a code from the app: only then is the secret saved
   * (`saveSecret`) and in force. Throws `AuthenticationFailure`: `missing_credentials` (400),
   * `no_pending_challenge` (401), `invalid_code`/`replayed` (401) or `locked` (429).
   */
  async confirmEnrollment(user: User, submitted: unknown): Promise<void> {
    const userId = this.getUserId(user);
    const code = this.readCode(submitted);
    await this.takeAttempt(userId, async () => {
      const key = this.enrollmentKey(userId);
      const sealed = await faultsAsStoreErrors(this.store.get(key));
      if (sealed === undefined) {
        return new AuthenticationFailure(
          'no_pending_challenge',
          'No enrollment is pending. Start the enrollment again.',
          401,
        );
      }
      const secret = await this.unseal(userId, sealed);
      const failure = await this.checkTotp(userId, secret, code);
      if (failure) return failure;
      // Of two confirmations, the one that claimed the step above goes on; the pending secret is
      // consumed so that it cannot be confirmed again.
      if (!(await faultsAsStoreErrors(this.store.deleteIfEquals(key, sealed)))) {
        return new AuthenticationFailure(
          'no_pending_challenge',
          'No enrollment is pending. Start the enrollment again.',
          401,
        );
      }
      await this.saveSecret(user, sealed);
      return undefined;
    });
    this.emit({ type: 'enrolled', userId });
  }

  /** Whether the user has a confirmed TOTP secret. */
  async isEnrolled(user: User): Promise<boolean> {
    const sealed = await this.loadSecret(user);
    return typeof sealed === 'string' && sealed !== '';
  }

  /**
   * Checks a code from the app (6 digits) or, when recovery codes are on, a recovery code. Resolves
   * how it succeeded; throws `AuthenticationFailure`: `missing_credentials` (400), `invalid_code`
   * (401, with `attemptsRemaining`), `replayed` (401: this time step was already used),
   * `not_enrolled` (401) or `locked` (429, with `retryAfter`).
   */
  async verify(user: User, submitted: unknown): Promise<TotpVerification> {
    const userId = this.getUserId(user);
    const code = this.readCode(submitted);
    // Not enrolled is answered before an attempt is counted: it is no guess at a code.
    const sealed = await this.loadSecret(user);
    if (typeof sealed !== 'string' || sealed === '') {
      throw new AuthenticationFailure(
        'not_enrolled',
        'No authenticator app is set up for this account.',
        401,
      );
    }
    const method: TotpVerification['method'] =
      this.recoveryCodesEnabled && !(code.length === DIGITS && /^\d+$/.test(code)) ? 'recovery_code' : 'totp';
    await this.takeAttempt(userId, async () => {
      if (method === 'totp') return this.checkTotp(userId, await this.unseal(userId, sealed), code);
      const used = await this.consumeRecoveryCode!(user, this.recoveryCodeHash(userId, code));
      return used === true ? undefined : wrongCode();
    });
    this.emit({ type: 'verified', userId, method });
    return { method };
  }

  /**
   * Generates `recoveryCodeCount` new recovery codes, replaces the stored ones with their HMACs
   * (`saveRecoveryCodes`) and answers the codes: show them once, they are not kept anywhere.
   */
  async generateRecoveryCodes(user: User): Promise<string[]> {
    if (!this.saveRecoveryCodes) {
      throw new ConfigurationError(
        `${OWNER}: recovery codes are off; give \`saveRecoveryCodes\` and \`consumeRecoveryCode\`.`,
      );
    }
    const userId = this.getUserId(user);
    const codes = Array.from({ length: this.recoveryCodeCount }, () => newRecoveryCode());
    await this.saveRecoveryCodes(
      user,
      codes.map((code) => this.recoveryCodeHash(userId, normalizeRecoveryCode(code))),
    );
    this.emit({ type: 'recovery_codes_generated', userId, count: codes.length });
    return codes;
  }

  /** The HMAC stored for a recovery code of this user; exposed for apps migrating codes and for tests. */
  recoveryCodeHash(userId: string, code: string): string {
    return createHmac('sha256', this.recoveryKey)
      .update(`recovery\0${userId}\0${normalizeRecoveryCode(code)}`)
      .digest('base64url');
  }

  /** Seconds until the user may try again, when locked; else `undefined`. */
  async lockedFor(user: User): Promise<number | undefined> {
    const res = await this.attempts.get(this.name('user', this.getUserId(user)));
    if (!res || res.consumedPoints < this.maxAttempts) return undefined;
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  }

  /** A code as submitted: a string of at most 64 characters, spaces removed; else `missing_credentials`. */
  private readCode(submitted: unknown): string {
    if (typeof submitted !== 'string' || submitted.trim() === '') {
      throw new AuthenticationFailure(
        'missing_credentials',
        'Enter the code from your authenticator app.',
        400,
      );
    }
    if (submitted.length > 64)
      throw new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 400);
    return submitted.replace(/[\s-]+/g, '');
  }

  /**
   * One attempt, counted BEFORE `check` runs (one atomic `consume`), so parallel guesses on any
   * number of instances never reach `check` more than `maxAttempts` times per window. A success
   * forgets the user's attempts; the attempt that uses up the last one answers `locked`.
   */
  private async takeAttempt(
    userId: string,
    check: () => Promise<AuthenticationFailure | undefined>,
  ): Promise<void> {
    const key = this.name('user', userId);
    const counted = await consumeCounted(this.attempts, key, (limited) => {
      const failure = locked(limited.msBeforeNext);
      this.emit({ type: 'locked', userId, retryAfter: failure.retryAfter });
      return failure;
    });
    const failure = await check();
    if (failure === undefined) {
      await this.attempts.delete(key);
      return;
    }
    this.emit({ type: 'failed', userId, code: failure.code });
    if (counted.remainingPoints <= 0) {
      const lock = locked(counted.msBeforeNext);
      this.emit({ type: 'locked', userId, retryAfter: lock.retryAfter });
      throw lock;
    }
    throw new AuthenticationFailure(failure.code, failure.message, failure.status, {
      details: { attemptsRemaining: counted.remainingPoints },
    });
  }

  /**
   * The code against the secret at ±`window` steps (otpauth compares with `timingSafeEqual`), then
   * claims its time step: answers the failure, or `undefined` when the code is good and its step
   * was not used before.
   */
  private async checkTotp(
    userId: string,
    secretBytes: Uint8Array,
    code: string,
  ): Promise<AuthenticationFailure | undefined> {
    if (!/^\d+$/.test(code) || code.length !== DIGITS) return wrongCode();
    const now = Date.now();
    const secret = new Secret({ buffer: toArrayBuffer(secretBytes) });
    const delta = TOTP.validate({
      token: code,
      secret,
      algorithm: ALGORITHM,
      digits: DIGITS,
      period: PERIOD_SECONDS,
      timestamp: now,
      window: this.window,
    });
    if (delta === null) return wrongCode();
    const step = TOTP.counter({ period: PERIOD_SECONDS, timestamp: now }) + delta;
    return (await this.claimStep(userId, secretBytes, step))
      ? undefined
      : new AuthenticationFailure(
          'replayed',
          'This code was already used. Wait for the next code in your app.',
          401,
        );
  }

  /**
   * Moves the last used step of (user, secret) forward to `step` with compare-and-set; `false`
   * when it is already at `step` or later (a replay, or a concurrent use that won).
   */
  private async claimStep(userId: string, secretBytes: Uint8Array, step: number): Promise<boolean> {
    const key = this.stepKey(userId, secretBytes);
    // Outlives every code that could still be in the window after the last accepted step.
    const ttlMs = (2 * this.window + 2) * PERIOD_SECONDS * 1000;
    for (let i = 0; i < MAX_STEP_CLAIMS; i++) {
      const current = await faultsAsStoreErrors(this.store.get(key));
      const last = current === undefined ? undefined : Number.parseInt(current, 10);
      if (last !== undefined && Number.isSafeInteger(last) && last >= step) return false;
      if (await faultsAsStoreErrors(this.store.compareAndSet(key, current, String(step), ttlMs))) return true;
    }
    throw new StoreError('The store kept changing the last used time step; try again.');
  }

  /**
   * The secret at rest: a compact JWE (`dir`, A256GCM) whose protected header, which the
   * encryption authenticates, names the user by a keyed hash, so a sealed secret copied to
   * another user's record does not open.
   */
  private async seal(userId: string, secret: Uint8Array): Promise<string> {
    return new CompactEncrypt(secret)
      .setProtectedHeader({
        alg: 'dir',
        enc: 'A256GCM',
        cty: SEALED_TYPE,
        [OWNER_HEADER]: this.name('owner', userId),
      })
      .encrypt(await this.encryptionKey);
  }

  private async unseal(userId: string, sealed: string): Promise<Uint8Array> {
    let opened: Awaited<ReturnType<typeof compactDecrypt>>;
    try {
      opened = await compactDecrypt(sealed, await this.encryptionKey, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
    } catch (err) {
      throw unreadableSecret(err);
    }
    const header = opened.protectedHeader as Record<string, unknown>;
    if (header.cty !== SEALED_TYPE || header[OWNER_HEADER] !== this.name('owner', userId))
      throw unreadableSecret();
    return opened.plaintext;
  }

  /** Store key names never hold user ids: 128 bits of an HMAC. */
  private name(...parts: string[]): string {
    return createHmac('sha256', this.nameKey)
      .update(parts.join('\0'))
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }

  private enrollmentKey(userId: string): string {
    return `totp:enroll:${this.name('user', userId)}`;
  }

  /** Per (user, secret): a new secret starts with no used steps. */
  private stepKey(userId: string, secretBytes: Uint8Array): string {
    const secretId = createHmac('sha256', this.nameKey)
      .update(secretBytes)
      .digest()
      .subarray(0, 8)
      .toString('base64url');
    return `totp:step:{${this.name('user', userId)}}:${secretId}`;
  }
}

function derive(keyMaterial: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', keyMaterial, Buffer.alloc(0), info, 32));
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function wrongCode(): AuthenticationFailure {
  return new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 401);
}

function locked(msBeforeNext: number): AuthenticationFailure {
  return rateLimitedAfter({ msBeforeNext }, 'locked', 'Too many wrong codes. Wait, then try again.');
}

function unreadableSecret(cause?: unknown): PassportFactorsError {
  return new PassportFactorsError(
    'ERR_TOTP_SECRET',
    'The stored TOTP secret cannot be decrypted: it was sealed with another `secret` or for another user, or was altered.',
    cause === undefined ? undefined : { cause },
  );
}

function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < RECOVERY_LENGTH; i++) code += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
  return code.match(/.{4}/g)!.join('-');
}

/** Case, spaces and dashes do not matter when a recovery code is typed. */
function normalizeRecoveryCode(code: string): string {
  return code.replace(/[\s-]+/g, '').toUpperCase();
}

function defaultAccountName(user: User, getUserId: (user: User) => string): string {
  const { email, username } = user as { email?: unknown; username?: unknown };
  if (typeof email === 'string' && email !== '') return email;
  if (typeof username === 'string' && username !== '') return username;
  return getUserId(user);
}

const require = createRequire(import.meta.url);

/** qrcode is an optional peer: needed only for the enrollment's QR image. */
function loadQrCode(owner: string): typeof QRCodeModule {
  try {
    return require('qrcode') as typeof QRCodeModule;
  } catch {
    throw new ConfigurationError(
      `${owner}: the enrollment QR image needs the optional peer dependency qrcode: npm install qrcode (or set \`qrCode: false\`).`,
    );
  }
}
