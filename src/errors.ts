/**
 * Every error this package throws or hands to Passport is a `PassportFactorsError` with a stable
 * `code`, so applications can branch on codes instead of parsing messages. Messages say what was
 * wrong and what to do; they never contain secrets, codes or tokens.
 */

/**
 * Stable machine codes carried in a failure challenge (`this.fail({ message, code }, status)`).
 * Shared across strategies where they mean the same thing.
 */
export type FailureCode =
  | 'missing_credentials'
  | 'invalid_credentials'
  | 'invalid_code'
  | 'expired'
  | 'locked'
  | 'rate_limited'
  | 'pending'
  | 'denied'
  | 'canceled'
  | 'risky'
  | 'failed_risk'
  | 'invalid_token'
  | 'state_mismatch'
  | 'no_pending_challenge'
  | 'cross_origin'
  // TOTP: a right code of a time step that was already accepted; no TOTP secret enrolled.
  | 'replayed'
  | 'not_enrolled'
  // WebAuthn (passkeys): what the browser's signed response was refused for.
  | 'origin_mismatch'
  | 'rp_id_mismatch'
  | 'user_verification_required'
  | 'unknown_credential'
  | 'counter_regression'
  | 'already_registered';

/** What a strategy passes to `this.fail()`: Passport hands it to custom callbacks as `info`. */
export interface FailureChallenge {
  message: string;
  code: FailureCode;
  /** Seconds until a throttled client may try again (also sent as the `Retry-After` header). */
  retryAfter?: number;
  [detail: string]: unknown;
}

export class PassportFactorsError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option passed to a constructor or helper is missing or invalid. Thrown synchronously. */
export class ConfigurationError extends PassportFactorsError {
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message);
  }
}

/**
 * The state store (memory or Redis) failed or is full; authentication fails closed with this
 * error. `code` is `ERR_STORE` for a fault (Redis unreachable, a garbled answer) and
 * `ERR_STORE_FULL` when a `MemoryStore` at `maxEntries` refuses a new key rather than evict live
 * state. `status` (503) is what an Express error handler should answer: the server cannot serve
 * the request now, and the client may retry later.
 */
export class StoreError extends PassportFactorsError {
  readonly status = 503;

  constructor(message: string, options?: { cause?: unknown; code?: 'ERR_STORE' | 'ERR_STORE_FULL' }) {
    super(
      options?.code ?? 'ERR_STORE',
      message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
  }
}

/**
 * A vendor (sipgate, SecSign, XignIn, Lastwall) could not be reached, answered an error, or answered
 * something we cannot read. Authentication fails closed with it. `status` is what an Express error
 * handler should answer (502, or 504 for a timeout); `vendorStatus` is the vendor's HTTP status.
 */
export class VendorError extends PassportFactorsError {
  readonly vendor: string;
  readonly status: number;
  readonly vendorStatus: number | undefined;

  constructor(
    vendor: string,
    code: string,
    message: string,
    extra: { status?: number; vendorStatus?: number; cause?: unknown } = {},
  ) {
    super(code, message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.vendor = vendor;
    this.status = extra.status ?? 502;
    this.vendorStatus = extra.vendorStatus;
  }
}

/**
 * A phone number that cannot be parsed, is not valid, or cannot receive SMS
 * (`ERR_INVALID_PHONE_NUMBER`), or is in a country outside `allowedCountries`
 * (`ERR_PHONE_COUNTRY_NOT_ALLOWED`).
 */
export class InvalidPhoneNumberError extends PassportFactorsError {
  readonly status = 400;

  constructor(
    message: string,
    code: 'ERR_INVALID_PHONE_NUMBER' | 'ERR_PHONE_COUNTRY_NOT_ALLOWED' = 'ERR_INVALID_PHONE_NUMBER',
  ) {
    super(code, message);
  }
}

/**
 * A verifier's verdict that the request does not authenticate. Not a fault: strategies turn it
 * into `this.fail(challenge, status)` rather than `this.error()`.
 */
export class AuthenticationFailure extends PassportFactorsError {
  declare readonly code: FailureCode;
  readonly status: number;
  readonly retryAfter: number | undefined;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: FailureCode,
    message: string,
    status: number,
    extra: { retryAfter?: number; details?: Record<string, unknown> } = {},
  ) {
    super(code, message);
    this.status = status;
    this.retryAfter = extra.retryAfter;
    this.details = extra.details ?? {};
  }

  toChallenge(): FailureChallenge {
    const challenge: FailureChallenge = { ...this.details, message: this.message, code: this.code };
    if (this.retryAfter !== undefined) challenge.retryAfter = this.retryAfter;
    return challenge;
  }
}

/** Turns anything thrown into an `Error` so `this.error()` always receives one. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new PassportFactorsError('ERR_NON_ERROR_THROWN', `A non-Error value was thrown: ${String(thrown)}`);
}
