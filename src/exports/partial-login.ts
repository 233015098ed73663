/**
 * `passport-factors/partial-login`: multi-step logins. `PartialLogin` records each factor a
 * user passed and logs them in (`req.login`) only when a required set of factors is complete.
 *
 * @module passport-factors/partial-login
 */
export {
  PartialLogin,
  type FactorRecord,
  type JourneyBinding,
  type JourneyPassport,
  type PartialLoginEvent,
  type PartialLoginOptions,
  type RememberBrowserOptions,
  type StepOptions,
  type StepOutcome,
} from '../journey/partial-login.js';
export { RememberedBrowsers, type RememberedBrowsersOptions } from '../journey/remembered-browsers.js';
