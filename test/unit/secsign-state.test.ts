import { expect } from 'chai';
import { decideSecSignState, secSignStateName } from '../../src/core/secsign.js';
import { SecSignState } from '../../src/exports/secsign.js';

describe('decideSecSignState (as the vendor’s WordPress plugin decides)', () => {
  const young = 1000;
  const maxAge = 300_000;

  it('keeps waiting on NOSTATE, PENDING and FETCHED', () => {
    for (const state of [SecSignState.NOSTATE, SecSignState.PENDING, SecSignState.FETCHED]) {
      expect(decideSecSignState(state, young, maxAge)).to.deep.equal({ outcome: 'waiting' });
    }
  });

  it('logs in on AUTHENTICATED only', () => {
    expect(decideSecSignState(SecSignState.AUTHENTICATED, young, maxAge)).to.deep.equal({
      outcome: 'authenticated',
    });
  });

  it('stops and cancels on DENIED, EXPIRED, SUSPENDED and INVALID; CANCELED needs no cancel', () => {
    expect(decideSecSignState(SecSignState.DENIED, young, maxAge)).to.deep.equal({
      outcome: 'denied',
      cancelAtVendor: true,
    });
    for (const state of [SecSignState.EXPIRED, SecSignState.SUSPENDED, SecSignState.INVALID]) {
      expect(decideSecSignState(state, young, maxAge)).to.deep.equal({
        outcome: 'expired',
        cancelAtVendor: true,
      });
    }
    expect(decideSecSignState(SecSignState.CANCELED, young, maxAge)).to.deep.equal({
      outcome: 'canceled',
      cancelAtVendor: false,
    });
  });

  it('P3: anything older than maxAgeMs has expired, a confirmed session included', () => {
    for (const state of [SecSignState.PENDING, SecSignState.FETCHED, SecSignState.AUTHENTICATED]) {
      expect(decideSecSignState(state, maxAge + 1, maxAge)).to.deep.equal({
        outcome: 'expired',
        cancelAtVendor: true,
      });
    }
  });

  it('names states in lower case, with the wire numbers of PROTOCOLS.md', () => {
    expect(SecSignState).to.deep.equal({
      NOSTATE: 0,
      PENDING: 1,
      EXPIRED: 2,
      AUTHENTICATED: 3,
      DENIED: 4,
      SUSPENDED: 5,
      CANCELED: 6,
      FETCHED: 7,
      INVALID: 8,
    });
    expect(secSignStateName(SecSignState.FETCHED)).to.equal('fetched');
  });
});
