/**
 * `passport-factors/basic-login`: HTTP Basic login (RFC 7617, UTF-8), throttled per username and
 * per client address. It is the password step in front of any factor: the X-Token login route,
 * an SMS or SecSign second factor, a `PartialLogin` journey.
 *
 * @module passport-factors/basic-login
 */
export {
  BasicLoginStrategy,
  type BasicLoginAuthenticateOptions,
  type BasicLoginOptions,
  type BasicLoginThrottleOptions,
  type BasicLoginVerify,
  type BasicLoginVerifyWithRequest,
} from '../strategies/basic-login.js';
