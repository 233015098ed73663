import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { AuthenticationFailure, MemoryStore, OneTimeCodes } from '../../src/index.js';
import { rejectionOf } from '../helpers/assert.js';

const failureOf = (promise: Promise<unknown>) => rejectionOf(promise, AuthenticationFailure);

describe('OneTimeCodes (the passport-free verifier)', () => {
  let store: MemoryStore;
  let codes: OneTimeCodes;
  beforeEach(() => {
    store = new MemoryStore();
    codes = new OneTimeCodes({ secret: randomBytes(32), store, namespace: 'test', maxAttempts: 5 });
  });
  afterEach(() => store.close());

  it('S3: a right code redeems once; the same code again finds nothing pending', async () => {
    const { code } = await codes.issue('u1', 'session-a');
    await codes.redeem('u1', 'session-a', code);
    expect((await failureOf(codes.redeem('u1', 'session-a', code))).code).to.equal('no_pending_challenge');
  });

  it('a record it cannot read (the older JSON format, or corrupted) counts as no pending code', async () => {
    const { code } = await codes.issue('u1', 'session-a');
    const key = codes.challengeKeyFor('u1');
    const packed = (await store.get(key))!;
    for (const unreadable of [
      JSON.stringify({ n: 'x', h: 'y', b: 'z', x: Date.now() + 60_000 }),
      packed.slice(0, -4),
      `.${packed.split('.')[1]}`,
    ]) {
      await store.set(key, unreadable, 60_000);
      expect((await failureOf(codes.redeem('u1', 'session-a', code))).code).to.equal('no_pending_challenge');
    }
  });

  it('S4: of 20 concurrent redemptions of the right code exactly one resolves', async () => {
    const { code } = await codes.issue('u1', 'session-a');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => codes.redeem('u1', 'session-a', code)),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
  });

  it('S6: the right code under another session binding is refused, and stays usable by its own session', async () => {
    const { code } = await codes.issue('u1', 'session-a');
    expect((await failureOf(codes.redeem('u1', 'session-b', code))).code).to.equal('invalid_code');
    await codes.redeem('u1', 'session-a', code);
  });

  it('S6: the right code for another subject is refused', async () => {
    const { code } = await codes.issue('u1', 'session-a');
    expect((await failureOf(codes.redeem('u2', 'session-a', code))).code).to.equal('no_pending_challenge');
  });

  it('S5: the attempt count survives a new code, and a lock refuses even the right code', async () => {
    const first = await codes.issue('u1', 's');
    for (let i = 0; i < 3; i++)
      await failureOf(codes.redeem('u1', 's', first.code === '000000' ? '111111' : '000000'));
    const second = await codes.issue('u1', 's');
    await failureOf(codes.redeem('u1', 's', second.code === '000000' ? '111111' : '000000'));
    const locked = await failureOf(codes.redeem('u1', 's', second.code === '000000' ? '111111' : '000000'));
    expect(locked).to.include({ code: 'locked', status: 429 });
    expect(await codes.lockedFor('u1'))
      .to.be.a('number')
      .greaterThan(0);
    expect((await failureOf(codes.redeem('u1', 's', second.code))).code).to.equal('locked');
  });

  it('a decoy challenge can never be redeemed, whatever the code', async () => {
    await codes.issueDecoy('unknown:x', 's');
    for (const guess of ['000000', '123456', '999999']) {
      expect((await failureOf(codes.redeem('unknown:x', 's', guess))).code).to.equal('invalid_code');
    }
  });
});
