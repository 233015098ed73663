/**
 * `passport-factors/x-token`: the rolling, keyed `X-Token` session of the alt-seven client
 * contract: the strategy with its route handlers, and `XTokenManager`, the passport-free core that
 * issues, renews and revokes the tokens.
 *
 * @module passport-factors/x-token
 */
export {
  XTokenStrategy,
  type XTokenInfo,
  type XTokenStrategyOptions,
  type XTokenVerify,
  type XTokenVerifyWithRequest,
} from '../strategies/x-token.js';
export { xTokenHandlers, type XTokenHandlerOptions, type XTokenHandlers } from '../handlers/x-token.js';
export {
  XTokenManager,
  type IssuedXToken,
  type KeyInput,
  type RenewedXToken,
  type XTokenAsymmetricAlg,
  type XTokenEvent,
  type XTokenHmacAlg,
  type XTokenKey,
  type XTokenOptions,
  type XTokenPayload,
} from '../core/x-token.js';
