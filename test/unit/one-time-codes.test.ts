import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { AuthenticationFailure, type Store } from '../../src/index.js';
import { MemoryStore, RedisStore } from '../../src/exports/stores.js';
import { OneTimeCodes } from '../../src/exports/sms-otp.js';
import sinon from 'sinon';
import { rejectionOf } from '../helpers/assert.js';
import { MapStore } from '../helpers/custom-store.js';
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
s12Suite('custom one-file', async () => new MapStore());

/** Many concurrent redemptions of one code, on one or two instances sharing the store. */
function raceSuite(label: string, makeStores: (ctx: Mocha.Context) => Promise<[Store, Store]>): void {
  describe(`OneTimeCodes redemption races (${label})`, () => {
    let codesA: OneTimeCodes;
    let codesB: OneTimeCodes;
    beforeEach(async function () {
      const [a, b] = await makeStores(this);
      const options = { secret: randomBytes(32), namespace: 'race', maxAttempts: 5, maxAttemptsPerUser: 500 };
      codesA = new OneTimeCodes({ ...options, store: a });
      codesB = new OneTimeCodes({ ...options, store: b });
    });

    it('S4: of 100 concurrent redemptions of the right code, spread over both instances, exactly one succeeds', async () => {
      const { code } = await codesA.issue('u1', 's');
      const outcomes = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? codesA : codesB).redeem('u1', 's', code)),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
      for (const o of outcomes) {
        if (o.status === 'rejected') {
          expect((o.reason as AuthenticationFailure).code).to.be.oneOf([
            'no_pending_challenge',
            'invalid_code',
            'locked',
          ]);
        }
      }
    });

    it('S5: 60 concurrent wrong guesses and the right code: at most maxAttempts are evaluated, the rest are locked', async () => {
      const { code } = await codesA.issue('u2', 's');
      const wrong = code === '000000' ? '111111' : '000000';
      const outcomes = await Promise.allSettled(
        Array.from({ length: 61 }, (_, i) =>
          (i % 2 ? codesA : codesB).redeem('u2', 's', i === 30 ? code : wrong),
        ),
      );
      const failures = outcomes.flatMap((o) =>
        o.status === 'rejected' ? [o.reason as AuthenticationFailure] : [],
      );
      const evaluated = 61 - failures.filter((f) => f.code === 'locked').length;
      expect(evaluated).to.be.at.most(5);
      expect(failures.filter((f) => f.code === 'locked').length).to.be.at.least(56);
      expect(await codesB.lockedFor('u2', 's')).to.be.a('number');
    });
  });
}

raceSuite('MemoryStore, one instance', async () => {
  const store = new MemoryStore();
  return [store, store];
});
raceSuite('custom one-file store, one instance', async () => {
  const store = new MapStore();
  return [store, store];
});
raceSuite('two instances, each with its own client, on one Redis', async (ctx) => {
  const [clientA, clientB] = [await redisOrSkip(ctx), await redisOrSkip(ctx)];
  after(async () => Promise.all([clientA, clientB].map((c) => (c.isOpen ? c.close() : undefined))));
  const prefix = uniquePrefix('otc-race');
  return [new RedisStore({ client: clientA, prefix }), new RedisStore({ client: clientB, prefix })];
});

describe('OneTimeCodes: one store round trip per redemption', () => {
  it('MemoryStore: a redemption is one store call (redeemCode)', async () => {
    const store = new MemoryStore();
    const codes = new OneTimeCodes({ secret: randomBytes(32), store, namespace: 'trips' });
    const { code } = await codes.issue('u1', 's');
    const calls = (['get', 'set', 'take', 'deleteIfEquals', 'delete', 'consume', 'redeemCode'] as const).map(
      (name) => sinon.spy(store, name),
    );
    await failureOf(codes.redeem('u1', 's', code === '000000' ? '111111' : '000000'));
    await codes.redeem('u1', 's', code);
    expect(calls.map((spy) => spy.callCount)).to.deep.equal([0, 0, 0, 0, 0, 0, 2]);
    await store.close();
  });

  it('RedisStore: a redemption is one command to Redis (one EVALSHA)', async function () {
    const client = await redisOrSkip(this);
    try {
      // The store binds the client's sendCommand when it is made: spied on before.
      const sent = sinon.spy(client, 'sendCommand');
      const store = new RedisStore({ client, prefix: uniquePrefix('otc-trips') });
      const codes = new OneTimeCodes({ secret: randomBytes(32), store, namespace: 'trips' });
      const { code } = await codes.issue('u1', 's');
      await failureOf(codes.redeem('u1', 's', code === '000000' ? '111111' : '000000')); // loads the script
      sent.resetHistory();
      await failureOf(codes.redeem('u1', 's', code === '000000' ? '111111' : '000000'));
      await codes.redeem('u1', 's', code);
      expect(sent.args.map(([args]) => (args as string[])[0])).to.deep.equal(['EVALSHA', 'EVALSHA']);
      sent.restore();
    } finally {
      await client.close();
    }
  });
});

describe('OneTimeCodes key layout', () => {
  it('the code and both attempt counters share one Redis hash tag, so one script may touch them on a cluster', async () => {
    const store = new MemoryStore();
    const codes = new OneTimeCodes({ secret: randomBytes(32), store, namespace: 'sms-otp' });
    const redeem = sinon.spy(store, 'redeemCode');
    const { code } = await codes.issue('alice@example.test', 'session-1');
    await codes.redeem('alice@example.test', 'session-1', code);
    const { key, attemptsKey, userAttemptsKey } = redeem.firstCall.args[0];
    // Redis hashes only the part between the first "{" and the next "}".
    const tags = [key, attemptsKey, userAttemptsKey].map((k) => /\{([^}]+)\}/.exec(k)?.[1]);
    expect(tags[0])
      .to.be.a('string')
      .and.match(/^[A-Za-z0-9_-]{22}$/);
    expect(tags).to.deep.equal([tags[0], tags[0], tags[0]]);
    expect(key).to.equal(codes.challengeKeyFor('alice@example.test', 'session-1'));
    await store.close();
  });
});
