/**
 * `passport-factors`: the strategies, the errors and the types every factor shares. Each factor's
 * options, clients and helpers are in its own entry point (`passport-factors/x-token`,
 * `/basic-login`, `/sms-otp`, `/totp`, `/secsign`, `/xignin`, `/risc`, `/webauthn`, `/partial-login`, `/stores`,
 * `/sandbox`); the strategies are re-exported here so that `passport.use(new XTokenStrategy(…))`
 * needs one import.
 *
 * @module passport-factors
 */
export {
  AuthenticationFailure,
  ConfigurationError,
  PassportFactorsError,
  InvalidPhoneNumberError,
  StoreError,
  VendorError,
  type FailureChallenge,
  type FailureCode,
} from './errors.js';
export type {
  User,
  VerifyDone,
  VerifyFunction,
  VerifyFunctionWithRequest,
  VerifyResult,
} from './internal/verify.js';
export type { Handler, NextFunction, PassportLike } from './internal/http.js';
export { respondJson, type HandlerFactoryOptions, type Respond } from './handlers/respond.js';
export { jsonErrors, type ErrorHandler } from './json-errors.js';
export type { GetSessionId } from './internal/binding.js';
export type { StartLimitOptions } from './internal/throttle.js';
export type { OriginCheckOptions } from './internal/origin.js';
export type { Store } from './stores/store.js';

// The strategies; everything else of a factor is in its entry point.
export { BasicLoginStrategy } from './strategies/basic-login.js';
export { XTokenStrategy } from './strategies/x-token.js';
export { SmsOtpStrategy } from './strategies/sms-otp.js';
export { TotpStrategy } from './strategies/totp.js';
export { SecSignStrategy } from './strategies/secsign.js';
export { XignInStrategy } from './strategies/xignin.js';
export { RiscStrategy } from './strategies/risc.js';
export { WebAuthnStrategy } from './strategies/webauthn.js';
