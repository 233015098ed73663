/**
 * `passport-factors/totp`: codes from an authenticator app (TOTP, RFC 6238) as a second factor:
 * the strategy, its enrollment and recovery-code handlers, and the passport-free `TotpFactor` core.
 *
 * @module passport-factors/totp
 */
export {
  TotpStrategy,
  type TotpEnrollment,
  type TotpEvent,
  type TotpOptions,
  type TotpStrategyOptions,
  type TotpVerification,
  type TotpVerify,
  type TotpVerifyWithRequest,
} from '../strategies/totp.js';
export { totpHandlers, type TotpHandlerOptions, type TotpHandlers } from '../handlers/totp.js';
export { TotpFactor } from '../core/totp.js';
