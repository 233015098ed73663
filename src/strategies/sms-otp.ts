import type { FactorRequest as Request } from '../internal/http.js';
import { ConfigurationError } from '../errors.js';
import { nameOption, requireFunction } from '../internal/options.js';
import {
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import { SmsOtpFlow, type SmsOtpOptions } from '../core/sms-otp.js';
import type { OneTimeCodes } from '../core/one-time-code.js';
import { AuthenticationFailure } from '../errors.js';
import { FactorStrategy, type Decision } from './base.js';

export type { SmsOtpEvent, SmsOtpIdentify, SmsOtpMessageContext, SmsOtpOptions } from '../core/sms-otp.js';

const OWNER = 'SmsOtpStrategy';

export interface SmsOtpStrategyOptions extends SmsOtpOptions {
  /**
   * The name Passport registers the strategy under with `passport.use(smsOtp)` (default
   * `'sms-otp'`).
   */
  name?: string;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

export type SmsOtpVerify = VerifyFunction<[user: User]>;
export type SmsOtpVerifyWithRequest = VerifyFunctionWithRequest<[user: User]>;

/**
 * `sms-otp`: a one-time code texted to the user. By default a second factor for `req.user`;
 * with `identify`, a passwordless login. `smsOtpHandlers(smsOtp).send` issues and texts a code;
 * `passport.authenticate('sms-otp')` checks `req.body.code`.
 */
export class SmsOtpStrategy extends FactorStrategy {
  override name: string;
  /** The passport-free flow the send handler and this strategy share. @internal */
  readonly flow: SmsOtpFlow;
  private readonly verify: ((...args: never[]) => unknown) | undefined;
  private readonly passReqToCallback: boolean;

  constructor(options: SmsOtpStrategyOptions & { passReqToCallback?: false }, verify?: SmsOtpVerify);
  constructor(options: SmsOtpStrategyOptions & { passReqToCallback: true }, verify: SmsOtpVerifyWithRequest);
  constructor(options: SmsOtpStrategyOptions, verify?: SmsOtpVerify | SmsOtpVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    if (verify !== undefined) requireFunction(verify, 'verify', OWNER);
    this.name = nameOption(options.name, 'sms-otp', OWNER);
    this.flow = new SmsOtpFlow(options);
    this.verify = verify as ((...args: never[]) => unknown) | undefined;
    this.passReqToCallback = options.passReqToCallback === true;
  }

  /** The passport-free `OneTimeCodes` verifier behind this strategy. */
  get codes(): OneTimeCodes {
    return this.flow.codes;
  }

  protected override async decide(req: Request): Promise<Decision> {
    const { user: found, subject } = await this.flow.redeem(req);
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
    this.flow.emit({ type: 'verified', userId: subject });
    return { action: 'success', user, info: successInfo(info, { method: 'sms-otp' }) };
  }
}
