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
export { jsonErrors, type ErrorHandler } from './json-errors.js';
export type { StartLimitOptions } from './internal/throttle.js';
export type { OriginCheckOptions } from './internal/origin.js';

export type { RateLimiterSpec, RollResult, Store } from './stores/store.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export {
  RedisStore,
  type IORedisClientLike,
  type NodeRedisClientLike,
  type RedisStoreOptions,
} from './stores/redis.js';

export { parseBasicAuthorization, type BasicCredentials } from './verifiers/basic-credentials.js';
export {
  XTokenManager,
  type IssuedXToken,
  type RenewedXToken,
  type KeyInput,
  type XTokenAsymmetricAlg,
  type XTokenHmacAlg,
  type XTokenKey,
  type XTokenEvent,
  type XTokenOptions,
  type XTokenPayload,
} from './verifiers/x-token.js';

export {
  BasicLoginStrategy,
  type BasicLoginOptions,
  type BasicLoginThrottleOptions,
  type BasicLoginVerify,
  type BasicLoginVerifyWithRequest,
} from './strategies/basic-login.js';
export {
  XTokenStrategy,
  type LoginHandlerOptions,
  type XTokenInfo,
  type XTokenStrategyOptions,
  type XTokenVerify,
  type XTokenVerifyWithRequest,
} from './strategies/x-token.js';

export {
  SipgateSmsSender,
  type SendSmsOptions,
  type SipgateSmsSenderOptions,
  type SmsSender,
} from './clients/sipgate.js';

export {
  normalizeSmsNumber,
  maskPhoneNumber,
  DEFAULT_SMS_NUMBER_TYPES,
  type CountryCode,
  type NumberType,
  type PhoneNumberRules,
} from './verifiers/phone-number.js';
export { OneTimeCodes, type IssuedCode, type OneTimeCodeOptions } from './verifiers/one-time-code.js';
export {
  SmsOtpStrategy,
  type SmsOtpEvent,
  type SmsOtpIdentify,
  type SmsOtpMessageContext,
  type SmsOtpStrategyOptions,
  type SmsOtpVerify,
  type SmsOtpVerifyWithRequest,
} from './strategies/sms-otp.js';

export {
  SecSignClient,
  SecSignError,
  normalizeSecSignId,
  parseSecSignResponse,
  type RequestAuthSessionInput,
  type SecSignAuthSession,
  type SecSignClientOptions,
  type SecSignSessionRef,
} from './clients/secsign.js';
export {
  SecSignState,
  decideSecSignState,
  secSignStateName,
  type SecSignDecision,
} from './verifiers/secsign.js';
export {
  SecSignStrategy,
  type SecSignEvent,
  type SecSignStrategyOptions,
  type SecSignVerify,
  type SecSignVerifyWithRequest,
} from './strategies/secsign.js';

export {
  XignInClient,
  type PushStatus,
  type TokenEndpointAuthMethod,
  type TokenResponse,
  type XignInClientOptions,
  type XignInEndpoints,
} from './clients/xignin.js';
export {
  IdTokenVerifier,
  type DecryptionKeyInput,
  type IdTokenContentEncryptionAlg,
  type IdTokenEncryption,
  type IdTokenKeyManagementAlg,
  type IdTokenSigningAlg,
  type IdTokenVerifierOptions,
  type VerifyIdTokenOptions,
} from './verifiers/id-token.js';
export {
  XignInStrategy,
  type XignInClaims,
  type XignInStrategyOptions,
  type XignInVerify,
  type XignInVerifyWithRequest,
} from './strategies/xignin.js';

export { LastwallClient, LASTWALL_SIGNATURE_ORDER, type LastwallClientOptions } from './clients/lastwall.js';
export { decryptRiscSnapshot, type RiscResult } from './verifiers/risc-snapshot.js';
export {
  RiscStrategy,
  type RiscStrategyOptions,
  type RiscVerify,
  type RiscVerifyWithRequest,
} from './strategies/risc.js';
export {
  RiskStepUp,
  type RiskStepUpEvent,
  type RiskStepUpOptions,
  type UnlockLimit,
} from './strategies/risk-step-up.js';
export {
  PartialLogin,
  type FactorRecord,
  type JourneyPassport,
  type PartialLoginEvent,
  type PartialLoginOptions,
  type StepOptions,
  type StepOutcome,
} from './journey/partial-login.js';
