/**
 * `passport-factors/xignin`: XignIn QR / push passwordless login over OpenID Connect: the
 * strategy, the manager's client, and `IdTokenVerifier`, the passport-free check of encrypted and
 * signed id_tokens.
 *
 * @module passport-factors/xignin
 */
export {
  XignInStrategy,
  type XignInAuthenticateOptions,
  type XignInClaims,
  type XignInStrategyOptions,
  type XignInVerify,
  type XignInVerifyWithRequest,
} from '../strategies/xignin.js';
export { xignInHandlers, type XignInHandlers } from '../handlers/xignin.js';
export {
  XignInClient,
  type PushStatus,
  type TokenEndpointAuthMethod,
  type TokenResponse,
  type XignInClientOptions,
  type XignInEndpoints,
} from '../clients/xignin.js';
export {
  IdTokenVerifier,
  type DecryptionKeyInput,
  type IdTokenContentEncryptionAlg,
  type IdTokenEncryption,
  type IdTokenKeyManagementAlg,
  type IdTokenSigningAlg,
  type IdTokenVerifierOptions,
  type VerifyIdTokenOptions,
} from '../core/id-token.js';
