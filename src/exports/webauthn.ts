/**
 * `passport-factors/webauthn`: passkeys and security keys (WebAuthn) on `@simplewebauthn/server`
 * (an optional peer dependency: `npm install @simplewebauthn/server`),
 * as a first factor (discoverable credentials, conditional UI) or a second one: the strategy, its
 * route handlers, and the passport-free ceremonies. Credentials are stored by the app's callbacks.
 *
 * @module passport-factors/webauthn
 */
export {
  WebAuthnStrategy,
  type UserVerification,
  type WebAuthnAssertion,
  type WebAuthnCredentialRecord,
  type WebAuthnCredentialUpdate,
  type WebAuthnEvent,
  type WebAuthnOptions,
  type WebAuthnStrategyOptions,
  type WebAuthnVerify,
  type WebAuthnVerifyWithRequest,
} from '../strategies/webauthn.js';
export {
  webauthnHandlers,
  type WebAuthnHandlerOptions,
  type WebAuthnHandlers,
} from '../handlers/webauthn.js';
export {
  WebAuthnCeremonies,
  type WebAuthnCreationOptionsJSON,
  type WebAuthnRequestOptionsJSON,
} from '../core/webauthn.js';
