/**
 * `passport-factors/secsign`: SecSign ID push login (an access pass on the site, the matching
 * symbol on the phone): the strategy, the SecSign ID HTTP API client, its refusal error and the
 * auth-session states as they are on the wire.
 *
 * @module passport-factors/secsign
 */
export {
  SecSignStrategy,
  type SecSignEvent,
  type SecSignStrategyOptions,
  type SecSignVerify,
  type SecSignVerifyWithRequest,
} from '../strategies/secsign.js';
export { secSignHandlers, type SecSignHandlers } from '../handlers/secsign.js';
export {
  SecSignClient,
  SecSignError,
  type RequestAuthSessionInput,
  type SecSignAuthSession,
  type SecSignClientOptions,
  type SecSignSessionRef,
} from '../clients/secsign.js';
export { SecSignState } from '../core/secsign.js';
