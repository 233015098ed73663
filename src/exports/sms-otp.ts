/**
 * `passport-factors/sms-otp`: one-time codes texted through sipgate.io (or any sender), as a second
 * factor or passwordless: the strategy, the sipgate.io sender, the passport-free `OneTimeCodes`
 * core, and `normalizeSmsNumber` to check a number with the strategy's own rules (at sign-up, say).
 *
 * @module passport-factors/sms-otp
 */
export {
  SmsOtpStrategy,
  type SmsOtpEvent,
  type SmsOtpIdentify,
  type SmsOtpMessageContext,
  type SmsOtpOptions,
  type SmsOtpStrategyOptions,
  type SmsOtpVerify,
  type SmsOtpVerifyWithRequest,
} from '../strategies/sms-otp.js';
export { smsOtpHandlers, type SmsOtpHandlerOptions, type SmsOtpHandlers } from '../handlers/sms-otp.js';
export {
  SipgateSmsSender,
  type SendSmsOptions,
  type SipgateSmsSenderOptions,
  type SmsSender,
} from '../clients/sipgate.js';
export { OneTimeCodes, type IssuedCode, type OneTimeCodeOptions } from '../core/one-time-code.js';
export {
  normalizeSmsNumber,
  type CountryCode,
  type NumberType,
  type PhoneNumberRules,
} from '../core/phone-number.js';
