import { TotpFactor, type TotpOptions } from '../core/totp.js';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import type { FactorRequest as Request } from '../internal/http.js';
import { nameOption, requireFunction, stringOption } from '../internal/options.js';
import { originCheck, type OriginCheck } from '../internal/origin.js';
import {
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import { FactorStrategy, type Decision } from './base.js';

export type { TotpEnrollment, TotpEvent, TotpOptions, TotpVerification } from '../core/totp.js';

const OWNER = 'TotpStrategy';

export interface TotpStrategyOptions extends TotpOptions {
  /** The name Passport registers the strategy under with `passport.use(totp)` (default `'totp'`). */
  name?: string;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
  /** The body field holding the code, or a recovery code (default `'code'`). */
  codeField?: string;
  /**
   * Origins whose pages may POST to the enrollment handlers (default: the request's own origin).
   * Another site's request is refused with 403 `cross_origin`; see the README's Origin rule.
   */
  allowedOrigins?: string[];
}

export type TotpVerify = VerifyFunction<[user: User]>;
export type TotpVerifyWithRequest = VerifyFunctionWithRequest<[user: User]>;

/**
 * `totp`: a code from an authenticator app (RFC 6238), as a second factor for `req.user` (in a
 * `PartialLogin`, the pending user). `totpHandlers(totp)` enrolls the app and issues recovery codes;
 * `passport.authenticate('totp')` checks `req.body.code`. On success the info is
 * `{ method: 'totp', amr: ['otp'], recoveryCode }`.
 */
export class TotpStrategy extends FactorStrategy {
  override name: string;
  /** The passport-free core the handlers and this strategy share. */
  readonly factor: TotpFactor;
  /** The body field read for the code (the `codeField` option). */
  readonly codeField: string;
  /** @internal */
  readonly checkOrigin: OriginCheck;
  private readonly verify: ((...args: never[]) => unknown) | undefined;
  private readonly passReqToCallback: boolean;

  constructor(options: TotpStrategyOptions & { passReqToCallback?: false }, verify?: TotpVerify);
  constructor(options: TotpStrategyOptions & { passReqToCallback: true }, verify: TotpVerifyWithRequest);
  constructor(options: TotpStrategyOptions, verify?: TotpVerify | TotpVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    if (verify !== undefined) requireFunction(verify, 'verify', OWNER);
    this.name = nameOption(options.name, 'totp', OWNER);
    this.factor = new TotpFactor(options, OWNER);
    this.codeField = stringOption(options.codeField, 'code', 'codeField', OWNER);
    this.checkOrigin = originCheck(options.allowedOrigins, OWNER);
    this.verify = verify as ((...args: never[]) => unknown) | undefined;
    this.passReqToCallback = options.passReqToCallback === true;
  }

  protected override async decide(req: Request): Promise<Decision> {
    const found = req.user;
    if (found === undefined || found === null) {
      throw new AuthenticationFailure(
        'no_pending_challenge',
        'Log in with your first factor before entering the authenticator code.',
        401,
      );
    }
    const submitted: unknown = (req.body as Record<string, unknown> | undefined)?.[this.codeField];
    const { method } = await this.factor.verify(found, submitted);
    let user: User | false = found;
    let info: unknown;
    if (this.verify) {
      ({ user, info } = await invokeVerify<User>(
        this.verify,
        this.passReqToCallback ? [req, found] : [found],
      ));
      if (user === false)
        throw new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 401);
    }
    return {
      action: 'success',
      user,
      info: successInfo(info, { method: 'totp', amr: ['otp'], recoveryCode: method === 'recovery_code' }),
    };
  }
}
