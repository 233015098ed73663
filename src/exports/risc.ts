/**
 * `passport-factors/risc`: Lastwall RISC risk-based spot checks: the strategy, the step-up journey
 * for a login found risky (`RiskStepUp`), and the Lastwall API client.
 *
 * @module passport-factors/risc
 */
export {
  RiscStrategy,
  type RiscStrategyOptions,
  type RiscVerify,
  type RiscVerifyWithRequest,
} from '../strategies/risc.js';
export type { RiscResult } from '../core/risc-snapshot.js';
export {
  RiskStepUp,
  type RiskStepUpEvent,
  type RiskStepUpOptions,
  type UnlockLimit,
} from '../strategies/risk-step-up.js';
export { LastwallClient, type LastwallClientOptions } from '../clients/lastwall.js';
