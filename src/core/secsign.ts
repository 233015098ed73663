/**
 * SecSign ID auth-session states as numbers on the wire. (The vendor's Node library exports
 * CANCELED as 1; the wire value, which every other vendor library and the server use, is 6.)
 */
export const SecSignState = {
  NOSTATE: 0,
  PENDING: 1,
  EXPIRED: 2,
  AUTHENTICATED: 3,
  DENIED: 4,
  SUSPENDED: 5,
  CANCELED: 6,
  FETCHED: 7,
  INVALID: 8,
} as const;
export type SecSignState = (typeof SecSignState)[keyof typeof SecSignState];

const NAMES = Object.fromEntries(
  Object.entries(SecSignState).map(([name, value]) => [value, name.toLowerCase()]),
) as Record<SecSignState, string>;

export function isSecSignState(value: number): value is SecSignState {
  return Object.prototype.hasOwnProperty.call(NAMES, value);
}

/** The lower-case name the `status()` handler answers: `pending`, `fetched`, `authenticated`, … */
export function secSignStateName(state: SecSignState): string {
  return NAMES[state];
}

/** What an auth session's state means for the login, and whether to cancel it at the vendor. */
export type SecSignDecision =
  | { outcome: 'waiting' }
  | { outcome: 'authenticated' }
  | { outcome: 'denied' | 'canceled' | 'expired'; cancelAtVendor: boolean };

/**
 * Decides as the vendor's WordPress plugin does: keep waiting on NOSTATE, PENDING and FETCHED;
 * log in on AUTHENTICATED; stop (and cancel the session) on EXPIRED, DENIED, SUSPENDED, CANCELED
 * and INVALID. A session older than `maxAgeMs` has expired whatever the vendor says, a
 * confirmed one included: we cannot tell when the confirmation happened.
 */
export function decideSecSignState(state: SecSignState, ageMs: number, maxAgeMs: number): SecSignDecision {
  if (ageMs > maxAgeMs) return { outcome: 'expired', cancelAtVendor: state !== SecSignState.CANCELED };
  switch (state) {
    case SecSignState.AUTHENTICATED:
      return { outcome: 'authenticated' };
    case SecSignState.NOSTATE:
    case SecSignState.PENDING:
    case SecSignState.FETCHED:
      return { outcome: 'waiting' };
    case SecSignState.DENIED:
      return { outcome: 'denied', cancelAtVendor: true };
    case SecSignState.CANCELED:
      // Already canceled at the vendor: nothing left to cancel.
      return { outcome: 'canceled', cancelAtVendor: false };
    case SecSignState.EXPIRED:
    case SecSignState.SUSPENDED:
    case SecSignState.INVALID:
      return { outcome: 'expired', cancelAtVendor: true };
  }
}
