import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { AuthenticationFailure, MemoryStore, OneTimeCodes, RedisStore, type Store } from '../../src/index.js';
import { rejectionOf } from '../helpers/assert.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis.js';

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
    const key = codes.challengeKeyFor('u1', 'session-a');
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
    // Challenges are keyed by (subject, binding): another binding has none pending (S12).
    expect((await failureOf(codes.redeem('u1', 'session-b', code))).code).to.equal('no_pending_challenge');
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
    expect(await codes.lockedFor('u1', 's'))
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

function s12Suite(label: string, makeStore: (ctx: Mocha.Context) => Promise<Store>): void {
  describe(`OneTimeCodes per-session challenges and per-user ceiling (${label} store)`, () => {
    let store: Store;
    beforeEach(async function () {
      store = await makeStore(this);
    });

    it('S12: a code issued under another binding neither replaces nor locks the owner’s pending code', async () => {
      const codes = new OneTimeCodes({ secret: randomBytes(32), store, namespace: 'test-binding' });
      const owner = await codes.issue('u1', 'owner');
      await codes.issue('u1', 'stranger');
      for (let i = 0; i < 5; i++) await failureOf(codes.redeem('u1', 'stranger', '0000000'));
      expect((await failureOf(codes.redeem('u1', 'stranger', '000000'))).code).to.equal('locked');
      expect(await codes.lockedFor('u1', 'stranger')).to.be.a('number');
      expect(await codes.lockedFor('u1', 'owner')).to.equal(undefined);
      await codes.redeem('u1', 'owner', owner.code);
    });

    it('S12: maxAttemptsPerUser caps tries over all bindings; a locked binding spends none of it', async () => {
      const codes = new OneTimeCodes({
        secret: randomBytes(32),
        store,
        namespace: 'test-ceiling',
        maxAttempts: 2,
        maxAttemptsPerUser: 3,
      });
      const owner = await codes.issue('u1', 'owner');
      await codes.issue('u1', 'a');
      for (let i = 0; i < 10; i++) await failureOf(codes.redeem('u1', 'a', 'x'));
      // Binding a used its 2 tries; its 8 refused tries did not reach the user's budget of 3.
      expect(await codes.lockedFor('u1')).to.equal(undefined);
      await codes.redeem('u1', 'owner', owner.code);
      const again = await codes.issue('u1', 'owner');
      await codes.issue('u1', 'b');
      await codes.issue('u1', 'c');
      await failureOf(codes.redeem('u1', 'b', 'x'));
      await failureOf(codes.redeem('u1', 'b', 'x'));
      const third = await failureOf(codes.redeem('u1', 'c', 'x'));
      expect(third).to.include({ code: 'locked', status: 429 });
      expect(await codes.lockedFor('u1', 'owner')).to.be.a('number');
      expect((await failureOf(codes.redeem('u1', 'owner', again.code))).code).to.equal('locked');
    });
  });
}

s12Suite('memory', async () => new MemoryStore());
s12Suite('Redis', async (ctx) => {
  const client = await redisOrSkip(ctx);
  after(async () => {
    if (client.isOpen) await client.close();
  });
  return new RedisStore({ client, prefix: uniquePrefix('otc') });
});
