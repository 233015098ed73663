import type { FactorRequest as Request } from '../internal/http.js';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { functionOption, nameOption, positiveIntegerOption, requireFunction } from '../internal/options.js';
import { createLimiter, FailureThrottle, reserveAll } from '../internal/throttle.js';
import {
  invokeVerify,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import { parseBasicAuthorization } from '../core/basic-credentials.js';
import { FactorStrategy, type AuthenticateCallOptions, type Decision } from './base.js';

const OWNER = 'BasicLoginStrategy';

export interface BasicLoginThrottleOptions {
  /**
   * Failed logins per username (case-insensitive) per window before 429 (default 10). Each attempt
   * reserves its slot before `verify`, so no more than this many attempts per window ever reach
   * `verify`, however many run in parallel or on however many instances share the store.
   */
  maxFailuresPerUser?: number;
  /** Failed logins per client IP per window before 429 (default 100). */
  maxFailuresPerIp?: number;
  /** Window length in seconds (default 900 = 15 min). */
  windowSec?: number;
}

export interface BasicLoginOptions {
  /**
   * The name Passport registers the strategy under with `passport.use(basic)` (default
   * `'basic-login'`); give the same to `xTokenHandlers`' `loginStrategy`.
   */
  name?: string;
  /** The realm sent in `WWW-Authenticate` (default `'Users'`). */
  realm?: string;
  /** Counters for throttling live here (default: a new `MemoryStore`; use `RedisStore` for several instances). */
  store?: Store;
  /** Failure throttling against credential stuffing, on by default; `false` turns it off. */
  throttle?: BasicLoginThrottleOptions | false;
  /** The client address used for per-IP throttling (default `req.ip`, which honours Express's `trust proxy`). */
  getClientIp?: (req: Request) => string | undefined;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

/**
 * What `passport.authenticate('basic-login', options)` may add for one route, besides Passport's
 * own options.
 */
export interface BasicLoginAuthenticateOptions {
  /**
   * The realm of this route's `WWW-Authenticate` challenge (default: the strategy's `realm`), for
   * routes that are separate protection spaces, such as an admin area and an API. The same rules
   * as the strategy's `realm`; another value is an error naming the option, not ignored.
   */
  realm?: string;
}

export type BasicLoginVerify = VerifyFunction<[username: string, password: string]>;
export type BasicLoginVerifyWithRequest = VerifyFunctionWithRequest<[username: string, password: string]>;

const INVALID_MESSAGE = 'Invalid username or password.';

/**
 * `basic-login`: HTTP Basic (RFC 7617, UTF-8) login. Unknown users and wrong passwords get the same
 * answer; failures are throttled per username and per client IP.
 *
 * The verify function's `info` is passed on for successes only: a failure always answers the same
 * fixed challenge so it cannot tell an attacker which usernames exist.
 */
export class BasicLoginStrategy extends FactorStrategy {
  override name: string;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;
  private readonly challengeHeader: string;
  private readonly userThrottle: FailureThrottle | undefined;
  private readonly ipThrottle: FailureThrottle | undefined;
  private readonly getClientIp: (req: Request) => string | undefined;

  constructor(verify: BasicLoginVerify);
  constructor(options: BasicLoginOptions & { passReqToCallback?: false }, verify: BasicLoginVerify);
  constructor(options: BasicLoginOptions & { passReqToCallback: true }, verify: BasicLoginVerifyWithRequest);
  constructor(
    optionsOrVerify: BasicLoginOptions | BasicLoginVerify,
    maybeVerify?: BasicLoginVerify | BasicLoginVerifyWithRequest,
  ) {
    super();
    const options: BasicLoginOptions = typeof optionsOrVerify === 'function' ? {} : (optionsOrVerify ?? {});
    const verify = typeof optionsOrVerify === 'function' ? optionsOrVerify : maybeVerify;
    requireFunction(verify, 'verify', OWNER);
    this.name = nameOption(options.name, 'basic-login', OWNER);
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;

    this.challengeHeader = challenge(realmOption(options.realm, 'Users', 'realm'));
    this.getClientIp = functionOption(options.getClientIp, defaultClientIp, 'getClientIp', OWNER);

    if (options.throttle !== false) {
      const throttle = options.throttle ?? {};
      const windowSec = positiveIntegerOption(throttle.windowSec, 900, 'throttle.windowSec', OWNER);
      const perUser = positiveIntegerOption(
        throttle.maxFailuresPerUser,
        10,
        'throttle.maxFailuresPerUser',
        OWNER,
      );
      const perIp = positiveIntegerOption(throttle.maxFailuresPerIp, 100, 'throttle.maxFailuresPerIp', OWNER);
      const store = options.store ?? new MemoryStore();
      this.userThrottle = new FailureThrottle(
        createLimiter(store, {
          keyPrefix: 'basic-login:fail-user',
          points: perUser,
          durationSec: windowSec,
        }),
      );
      this.ipThrottle = new FailureThrottle(
        createLimiter(store, { keyPrefix: 'basic-login:fail-ip', points: perIp, durationSec: windowSec }),
      );
    }
  }

  protected override async decide(req: Request, options: AuthenticateCallOptions): Promise<Decision> {
    // A bad per-call realm is the app's mistake: an error, before any credential is looked at.
    realmOption(options['realm'], 'Users', 'passport.authenticate() option `realm`');
    const credentials = parseBasicAuthorization(req.headers.authorization);
    if (!credentials) {
      throw new AuthenticationFailure('missing_credentials', 'Basic credentials are required.', 401);
    }
    const userKey = credentials.username.toLowerCase();
    const ipKey = this.getClientIp(req) ?? 'unknown';
    // The failure slot is taken BEFORE verify, atomically in the store, and given back on
    // success. Checking first and counting after let every guess of a parallel burst (on one
    // instance or many) through the check before the first failure was counted.
    await reserveAll([
      [this.userThrottle, userKey],
      [this.ipThrottle, ipKey],
    ]);

    const args = [credentials.username, credentials.password];
    const { user, info } = await invokeVerify<User>(
      this.verify,
      this.passReqToCallback ? [req, ...args] : args,
    );
    // A failure keeps its slots: they are the failure count.
    if (user === false) throw new AuthenticationFailure('invalid_credentials', INVALID_MESSAGE, 401);
    // A success forgets the username's failures; the per-IP count keeps the failures it saw but
    // not this success, since one address guessing many accounts may well own one of them.
    await Promise.all([this.userThrottle?.reset(userKey), this.ipThrottle?.release(ipKey)]);
    return { action: 'success', user, info };
  }

  protected override failureHeaders(
    failure: AuthenticationFailure,
    options: AuthenticateCallOptions,
  ): Record<string, string> {
    if (failure.status !== 401) return {};
    const realm = options['realm'];
    return { 'WWW-Authenticate': typeof realm === 'string' ? challenge(realm) : this.challengeHeader };
  }
}

/** A realm goes inside a quoted-string: refuse what would need escaping or break the header. */
function realmOption(value: unknown, fallback: string, what: string): string {
  if (value === undefined) return fallback;
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value === '' || /["\\\u0000-\u001f\u007f]/.test(value)) {
    const name = what === 'realm' ? '`realm`' : what;
    throw new ConfigurationError(
      `${OWNER}: ${name} must be a non-empty string without quotes, backslashes or control characters.`,
    );
  }
  return value;
}

function challenge(realm: string): string {
  return `Basic realm="${realm}", charset="UTF-8"`;
}

function defaultClientIp(req: Request): string | undefined {
  return req.ip ?? req.socket?.remoteAddress;
}
