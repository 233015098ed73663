import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { RedisClientType } from 'redis';
import type { Redis } from 'ioredis';
import { BasicLoginStrategy, ConfigurationError, StoreError, type Store } from '../../src/index.js';
import { MemoryStore, RedisStore } from '../../src/exports/stores.js';
import { OneTimeCodes } from '../../src/exports/sms-otp.js';
import { XTokenManager } from '../../src/exports/x-token.js';
import { createLimiter } from '../../src/internal/throttle.js';
import {
  addMember,
  formatCodeRecord,
  redeemCode,
  roll,
  setRolling,
  takeMembers,
} from '../../src/stores/operations.js';
import type { CodeRedemption } from '../../src/stores/store.js';
import { MapStore } from '../helpers/custom-store.js';
import { ioredisOrSkip, redisOrSkip, uniquePrefix } from '../helpers/redis.js';

/** One contract, run against every store: what a strategy may rely on. */
export function storeContract(makeStore: () => Store): void {
  let store: Store;
  beforeEach(() => {
    store = makeStore();
  });

  it('returns what was set, and a later set replaces it', async () => {
    await store.set('a', 'one', 10_000);
    expect(await store.get('a')).to.equal('one');
    await store.set('a', 'two', 10_000);
    expect(await store.get('a')).to.equal('two');
  });

  it('forgets a value once its TTL has passed', async () => {
    // Long enough to read back on a loaded machine (several test runs share two cores).
    await store.set('short', 'v', 400);
    expect(await store.get('short')).to.equal('v');
    await sleep(450);
    expect(await store.get('short')).to.equal(undefined);
    expect(await store.take('short')).to.equal(undefined);
  });

  it('take() returns the value once, then nothing (single use)', async () => {
    await store.set('once', 'secret', 10_000);
    expect(await store.take('once')).to.equal('secret');
    expect(await store.take('once')).to.equal(undefined);
    expect(await store.get('once')).to.equal(undefined);
  });

  it('of 50 concurrent take() calls exactly one gets the value', async () => {
    await store.set('race', 'prize', 10_000);
    const results = await Promise.all(Array.from({ length: 50 }, () => store.take('race')));
    expect(results.filter((r) => r === 'prize')).to.have.length(1);
    expect(results.filter((r) => r === undefined)).to.have.length(49);
  });

  it('deleteIfEquals() deletes only the value it was given (compare-and-consume)', async () => {
    await store.set('c', 'first', 10_000);
    expect(await store.deleteIfEquals('c', 'other')).to.equal(false);
    expect(await store.get('c')).to.equal('first');
    expect(await store.deleteIfEquals('c', 'first')).to.equal(true);
    expect(await store.get('c')).to.equal(undefined);
    expect(await store.deleteIfEquals('c', 'first')).to.equal(false);
  });

  it('of 30 concurrent deleteIfEquals() calls with the same value exactly one wins', async () => {
    await store.set('cc', 'v', 10_000);
    const wins = await Promise.all(Array.from({ length: 30 }, () => store.deleteIfEquals('cc', 'v')));
    expect(wins.filter(Boolean)).to.have.length(1);
  });

  it('delete() removes a key and tolerates an absent one', async () => {
    await store.set('d', 'v', 10_000);
    await store.delete('d');
    expect(await store.get('d')).to.equal(undefined);
    await store.delete('never-set');
  });

  it('increment() counts atomically under 100 concurrent calls', async () => {
    const counts = await Promise.all(Array.from({ length: 100 }, () => store.increment('ctr', 10_000)));
    expect([...counts].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('increment() keeps the first TTL: later increments do not extend the window', async () => {
    expect(await store.increment('win', 150)).to.equal(1);
    await sleep(90);
    expect(await store.increment('win', 150)).to.equal(2);
    await sleep(100);
    // 190 ms after the first increment: the window has closed even though the last was 100 ms ago.
    expect(await store.increment('win', 150)).to.equal(1);
  });

  it('refuses empty keys and non-positive TTLs', async () => {
    for (const call of [() => store.get(''), () => store.set('k', 'v', 0), () => store.increment('k', -5)]) {
      let thrown: unknown;
      try {
        await call();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(TypeError);
    }
  });

  it('roll() replaces the current member once; its predecessor is accepted within the grace only', async () => {
    await setRolling(store, 'fam', 'alice', 'm0', 60_000);
    expect(await roll(store, 'fam', 'm0', undefined, 500)).to.deep.equal({
      status: 'current',
      data: 'alice',
      current: 'm0',
    });
    expect(await roll(store, 'fam', 'm0', 'm1', 300)).to.deep.equal({
      status: 'rolled',
      data: 'alice',
      current: 'm1',
    });
    // Within the grace the predecessor answers the current member, and rolls nothing.
    expect(await roll(store, 'fam', 'm0', 'x1', 300)).to.deep.equal({
      status: 'grace',
      data: 'alice',
      current: 'm1',
    });
    expect(await roll(store, 'fam', 'm1', 'm2', 300)).to.deep.equal({
      status: 'rolled',
      data: 'alice',
      current: 'm2',
    });
    // m0's grace started when m1 replaced it, and still runs although m1 has been replaced since.
    expect((await roll(store, 'fam', 'm0', undefined, 300)).status).to.equal('grace');
    await sleep(350);
    // After the grace: reuse, and the whole record is gone, the current member too.
    expect(await roll(store, 'fam', 'm0', 'x2', 300)).to.deep.equal({ status: 'reused', data: 'alice' });
    expect((await roll(store, 'fam', 'm2', 'm3', 300)).status).to.equal('absent');
  });

  it('roll(): a member that was never current is reuse; an absent record is absent', async () => {
    await setRolling(store, 'fam2', 'bob', 'a', 60_000);
    expect((await roll(store, 'fam2', 'never', undefined, 1000)).status).to.equal('reused');
    expect(await roll(store, 'fam2', 'a', undefined, 1000)).to.deep.equal({ status: 'absent' });
    expect(await roll(store, 'nothing', 'a', 'b', 1000)).to.deep.equal({ status: 'absent' });
    await store.set('plain', 'not a rolling record', 60_000);
    expect((await roll(store, 'plain', 'a', 'b', 1000)).status).to.equal('absent');
  });

  it('of 40 concurrent roll() calls of the current member exactly one rolls; the others are in grace', async () => {
    await setRolling(store, 'fam3', 'carol', 'c0', 60_000);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => roll(store, 'fam3', 'c0', `next${i}`, 5000)),
    );
    const rolled = results.filter((r) => r.status === 'rolled');
    expect(rolled).to.have.length(1);
    expect(results.filter((r) => r.status === 'grace')).to.have.length(39);
    for (const r of results) expect(r.current).to.equal(rolled[0]!.current);
  });

  it('roll() remembers the last 32 predecessors for their grace; take() answers a rolled record once', async () => {
    await setRolling(store, 'fam5', 'erin', 'e0', 60_000);
    for (let i = 0; i < 40; i++)
      expect((await roll(store, 'fam5', `e${i}`, `e${i + 1}`, 60_000)).status).to.equal('rolled');
    // e8..e39 are remembered (32), e40 is current.
    expect(await roll(store, 'fam5', 'e8', undefined, 60_000)).to.deep.equal({
      status: 'grace',
      data: 'erin',
      current: 'e40',
    });
    expect(await roll(store, 'fam5', 'e39', undefined, 60_000)).to.deep.equal({
      status: 'grace',
      data: 'erin',
      current: 'e40',
    });
    expect(await store.take('fam5')).to.be.a('string');
    expect(await store.take('fam5')).to.equal(undefined);
    expect((await roll(store, 'fam5', 'e40', 'e41', 60_000)).status).to.equal('absent');
    await setRolling(store, 'fam6', 'erin', 'f0', 60_000);
    for (let i = 0; i < 40; i++) await roll(store, 'fam6', `f${i}`, `f${i + 1}`, 60_000);
    expect((await roll(store, 'fam6', 'f7', undefined, 60_000)).status).to.equal('reused');
    expect(await store.get('fam6')).to.equal(undefined);
  });

  it('roll(): each predecessor keeps its own grace, whatever the graces around it', async () => {
    await setRolling(store, 'fam7', 'gina', 'g0', 60_000);
    // g0 gets a long grace, g1 and g2 short ones after it (two instances configured differently).
    expect((await roll(store, 'fam7', 'g0', 'g1', 60_000)).status).to.equal('rolled');
    expect((await roll(store, 'fam7', 'g1', 'g2', 100)).status).to.equal('rolled');
    expect((await roll(store, 'fam7', 'g2', 'g3', 100)).status).to.equal('rolled');
    await sleep(150);
    // Rolling again after the short graces ended must not keep g1 alive behind the long-lived g0.
    expect((await roll(store, 'fam7', 'g3', 'g4', 100)).status).to.equal('rolled');
    expect((await roll(store, 'fam7', 'g0', undefined, 100)).status).to.equal('grace');
    expect(await roll(store, 'fam7', 'g1', undefined, 100)).to.deep.equal({ status: 'reused', data: 'gina' });
  });

  it('roll() keeps the record’s lifetime: rolling never extends it', async () => {
    await setRolling(store, 'fam4', 'dave', 'd0', 250);
    await sleep(150);
    expect((await roll(store, 'fam4', 'd0', 'd1', 1000)).status).to.equal('rolled');
    await sleep(150);
    expect((await roll(store, 'fam4', 'd1', undefined, 1000)).status).to.equal('absent');
  });

  it('addMember() and takeMembers(): members expire on their own; take returns the live ones once', async () => {
    await addMember(store, 'user', 's1', 60_000);
    await addMember(store, 'user', 's2', 100);
    await addMember(store, 'user', 's3', 60_000);
    await sleep(150);
    expect((await takeMembers(store, 'user')).sort()).to.deep.equal(['s1', 's3']);
    expect(await takeMembers(store, 'user')).to.deep.equal([]);
    await addMember(store, 'user', 's4', 60_000);
    expect(await takeMembers(store, 'user')).to.deep.equal(['s4']);
  });

  it('refuses members outside [A-Za-z0-9_-] and negative graces', async () => {
    for (const attempt of [
      () => setRolling(store, 'f', 'd', 'a b', 1000),
      () => roll(store, 'f', 'a', 'b c', 1000),
      () => roll(store, 'f', 'a', 'b', -1),
      () => addMember(store, 'u', '', 1000),
    ]) {
      let thrown: unknown;
      try {
        await attempt();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(TypeError);
    }
  });

  it('roll() and takeMembers(): a record that is not ours (corrupt, foreign, older) is no state', async () => {
    for (const [i, foreign] of [
      '{',
      'null',
      '[]',
      JSON.stringify({ d: 'alice', c: 'm0' }),
      JSON.stringify({ d: 'alice', c: 'm0', p: 'nope' }),
      JSON.stringify({ d: 'alice', c: 'm0', p: [['m', 'soon']] }),
      JSON.stringify({ d: 7, c: 'm0', p: [] }),
    ].entries()) {
      await store.set(`foreign-${i}`, foreign, 60_000);
      expect(await roll(store, `foreign-${i}`, 'm0', 'm1', 1000)).to.deep.equal({ status: 'absent' });
      expect(await takeMembers(store, `foreign-${i}`)).to.deep.equal([]);
    }
    // A member set over a foreign value replaces it.
    await store.set('foreign-set', '{"not":"a set"}', 60_000);
    await addMember(store, 'foreign-set', 's1', 60_000);
    expect(await takeMembers(store, 'foreign-set')).to.deep.equal(['s1']);
  });

  it('addMember(): 30 concurrent adds to one set all land', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => addMember(store, 'crowd', `s${i}`, 60_000)));
    expect((await takeMembers(store, 'crowd')).length).to.equal(30);
  });

  it('compareAndSet() writes only over the expected value, or over nothing when none is expected', async () => {
    expect(await store.compareAndSet('cas', undefined, 'one', 10_000)).to.equal(true);
    expect(await store.compareAndSet('cas', undefined, 'again', 10_000)).to.equal(false);
    expect(await store.compareAndSet('cas', 'other', 'two', 10_000)).to.equal(false);
    expect(await store.get('cas')).to.equal('one');
    expect(await store.compareAndSet('cas', 'one', 'two', 10_000)).to.equal(true);
    expect(await store.get('cas')).to.equal('two');
    await store.compareAndSet('cas', 'two', 'three', 60);
    await sleep(120);
    expect(await store.get('cas')).to.equal(undefined);
  });

  it('of 30 concurrent compareAndSet() calls with the same expected value exactly one wins', async () => {
    await store.set('cas2', 'v0', 10_000);
    const wins = await Promise.all(
      Array.from({ length: 30 }, (_, i) => store.compareAndSet('cas2', 'v0', `v${i + 1}`, 10_000)),
    );
    expect(wins.filter(Boolean)).to.have.length(1);
    expect(await store.get('cas2')).to.equal(`v${wins.indexOf(true) + 1}`);
  });

  it('consume() counts atomically under 100 concurrent calls, in a window later calls do not extend', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => store.consume('pts', 1, 10_000)));
    expect(results.map((r) => r.consumed).sort((x, y) => x - y)).to.deep.equal(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    for (const r of results) expect(r.msBeforeNext).to.be.greaterThan(9_000).and.at.most(10_000);
    expect((await store.consume('pts', -1, 10_000)).consumed).to.equal(99);
    expect((await store.consume('pts', 0, 10_000)).consumed).to.equal(99);
    expect((await store.consume('short-pts', 2, 150)).consumed).to.equal(2);
    await sleep(90);
    expect((await store.consume('short-pts', 1, 150)).consumed).to.equal(3);
    await sleep(100);
    expect((await store.consume('short-pts', 1, 150)).consumed).to.equal(1);
  });

  it('consume() with 0 points reads without creating; delete() forgets a counter', async () => {
    expect(await store.consume('unseen', 0, 10_000)).to.deep.equal({ consumed: 0, msBeforeNext: 0 });
    expect(await store.consume('unseen', 0, 10_000)).to.deep.equal({ consumed: 0, msBeforeNext: 0 });
    expect((await store.consume('unseen', 1, 10_000)).consumed).to.equal(1);
    await store.delete('unseen');
    expect(await store.consume('unseen', 0, 10_000)).to.deep.equal({ consumed: 0, msBeforeNext: 0 });
  });

  it('a limiter (rate-limiter-flexible over consume()) counts, refuses past its points, and forgets on delete', async () => {
    const limiter = createLimiter(store, { keyPrefix: 'rl-contract', points: 3, durationSec: 60 });
    await limiter.penalty('alice', 1);
    await limiter.penalty('alice', 1);
    const res = await limiter.get('alice');
    expect(res?.consumedPoints).to.equal(2);
    expect(res?.msBeforeNext).to.be.greaterThan(0).and.at.most(60_000);
    expect((await limiter.consume('alice')).remainingPoints).to.equal(0);
    const refused = await limiter.consume('alice').catch((rejection: unknown) => rejection);
    expect(refused).not.to.be.instanceOf(Error);
    expect(refused).to.have.property('consumedPoints', 4);
    await limiter.delete('alice');
    expect(await limiter.get('alice')).to.equal(null);
    expect(await limiter.get('bob')).to.equal(null);
  });

  describe('redeemCode() (one-time codes: count, compare, consume)', () => {
    const MAC = 'A'.repeat(43);
    const OTHER = 'B'.repeat(43);
    let n = 0;
    function attempt(mac: string, overrides: Partial<CodeRedemption> = {}): CodeRedemption {
      return {
        key: `otp:challenge:{u${n}}:c`,
        attemptsKey: `otp:attempts:{u${n}}:c`,
        userAttemptsKey: `otp:attempts-user:{u${n}}`,
        mac,
        maxAttempts: 3,
        maxUserAttempts: 10,
        windowMs: 60_000,
        now: Date.now(),
        ...overrides,
      };
    }
    beforeEach(async () => {
      n++;
      await store.set(attempt(MAC).key, formatCodeRecord(Date.now() + 60_000, MAC), 120_000);
    });

    it('a right MAC redeems once and forgets the attempts; a wrong one says how many are left', async () => {
      expect(await redeemCode(store, attempt(OTHER))).to.deep.equal({ status: 'wrong', remaining: 2 });
      expect(await redeemCode(store, attempt(MAC))).to.deep.equal({ status: 'redeemed' });
      expect(await redeemCode(store, attempt(MAC))).to.deep.equal({ status: 'absent' });
      // The right code forgot the earlier failures: the counters restarted with the absent attempt.
      expect((await store.consume(attempt(MAC).attemptsKey, 0, 60_000)).consumed).to.equal(1);
    });

    it('locks after maxAttempts; the attempt that used the last one deletes the code; then even the right MAC is locked', async () => {
      expect((await redeemCode(store, attempt(OTHER))).status).to.equal('wrong');
      expect((await redeemCode(store, attempt(OTHER))).status).to.equal('wrong');
      const third = await redeemCode(store, attempt(OTHER));
      expect(third.status).to.equal('locked');
      expect(third.msBeforeNext).to.be.greaterThan(50_000).and.at.most(60_000);
      expect(await store.get(attempt(MAC).key)).to.equal(undefined);
      expect((await redeemCode(store, attempt(MAC))).status).to.equal('locked');
    });

    it('the owner’s ceiling locks all of their codes; a locked code spends none of it', async () => {
      const other = attempt(OTHER, {
        key: `otp:challenge:{u${n}}:other`,
        attemptsKey: `otp:attempts:{u${n}}:other`,
        maxAttempts: 1,
      });
      expect((await redeemCode(store, other)).status).to.equal('absent');
      expect((await redeemCode(store, other)).status).to.equal('locked');
      expect((await redeemCode(store, other)).status).to.equal('locked');
      // The locked code's extra attempts spent nothing of the owner's 3: one wrong, then right.
      expect(await redeemCode(store, attempt(OTHER, { maxUserAttempts: 3 }))).to.deep.equal({
        status: 'wrong',
        remaining: 1,
      });
      expect((await redeemCode(store, attempt(MAC, { maxUserAttempts: 3 }))).status).to.equal('redeemed');
    });

    it('an expired code is deleted and says so; a record that is not a code is absent', async () => {
      expect(await redeemCode(store, attempt(MAC, { now: Date.now() + 61_000 }))).to.deep.equal({
        status: 'expired',
      });
      expect(await store.get(attempt(MAC).key)).to.equal(undefined);
      for (const foreign of [
        'garbage',
        `.${MAC}`,
        `zz.${MAC.slice(1)}`,
        `${Date.now().toString(36)}.${MAC}x`,
        `${(Date.now() + 60_000).toString(36).toUpperCase()}.${MAC}`,
        JSON.stringify({ x: Date.now() + 60_000, h: MAC }),
      ]) {
        await store.set(attempt(MAC).key, foreign, 60_000);
        expect(await redeemCode(store, attempt(MAC, { maxAttempts: 100 }))).to.deep.equal({
          status: 'absent',
        });
      }
    });

    it('of 30 concurrent redemptions of the right MAC exactly one is redeemed', async () => {
      const results = await Promise.all(
        Array.from({ length: 30 }, () => redeemCode(store, attempt(MAC, { maxAttempts: 100 }))),
      );
      expect(results.filter((r) => r.status === 'redeemed')).to.have.length(1);
    });

    it('40 concurrent wrong guesses: exactly maxAttempts are counted as tries, the rest are locked', async () => {
      const results = await Promise.all(Array.from({ length: 40 }, () => redeemCode(store, attempt(OTHER))));
      expect(results.filter((r) => r.status === 'wrong')).to.have.length(2);
      expect(results.filter((r) => r.status === 'locked')).to.have.length(38);
    });
  });
}

describe('stores', () => {
  describe('MemoryStore', () => {
    const stores: MemoryStore[] = [];
    after(async () => Promise.all(stores.map((s) => s.close())));
    storeContract(() => {
      const store = new MemoryStore();
      stores.push(store);
      return store;
    });

    it('U5: when full, sweeps expired entries, then refuses new keys (ERR_STORE_FULL, 503) and never evicts live ones', async () => {
      const store = new MemoryStore({ maxEntries: 3 });
      stores.push(store);
      await store.set('expiring', 'x', 1);
      await store.set('old', 'o', 10_000);
      await store.set('mid', 'm', 10_000);
      await sleep(5);
      await store.set('new', 'n', 10_000); // room made by sweeping the expired entry only
      expect(store.size).to.equal(3);
      const refused = await store.set('newer', 'n2', 10_000).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).to.be.instanceOf(StoreError).that.includes({ code: 'ERR_STORE_FULL', status: 503 });
      expect(await store.increment('counter', 10_000).catch((err: unknown) => err)).to.be.instanceOf(
        StoreError,
      );
      expect(store.size).to.equal(3);
      expect(await store.get('old')).to.equal('o');
      expect(await store.get('newer')).to.equal(undefined);
      // Existing keys still change, and deleting makes room again.
      await store.set('old', 'o2', 10_000);
      expect(await store.get('old')).to.equal('o2');
      expect(await store.take('mid')).to.equal('m');
      await store.set('newer', 'n2', 10_000);
      expect(await store.get('newer')).to.equal('n2');
    });

    it('U5: a full store evaluates no code attempt it cannot count: wrong guesses and the right code are refused alike', async () => {
      const store = new MemoryStore({ maxEntries: 3 });
      stores.push(store);
      const codes = new OneTimeCodes({ store, secret: 'k'.repeat(32), namespace: 'flood', maxAttempts: 3 });
      const { code } = await codes.issue('alice', 'binding-1');
      // One free entry: a wrong attempt needs two (its code's counter and its owner's).
      await store.set('flood', 'x', 10_000);
      const wrong = code === '000000' ? '111111' : '000000';
      for (let i = 0; i < 10; i++) {
        const refused = await codes.redeem('alice', 'binding-1', wrong).catch((err: unknown) => err);
        expect(refused).to.be.instanceOf(StoreError).with.property('code', 'ERR_STORE_FULL');
      }
      // Evaluated uncounted, ten guesses would have been free and the right code would log in here.
      const right = await codes.redeem('alice', 'binding-1', code).catch((err: unknown) => err);
      expect(right).to.be.instanceOf(StoreError).with.property('code', 'ERR_STORE_FULL');
      // With room again the first wrong guess is the first counted, and the code still works.
      await store.delete('flood');
      const counted = await codes.redeem('alice', 'binding-1', wrong).catch((err: unknown) => err);
      expect(counted).to.include({ code: 'invalid_code' });
      expect(counted).to.have.nested.property('details.attemptsRemaining', 2);
      await codes.redeem('alice', 'binding-1', code);
    });

    it('U5: its rate limiters count in the same bounded memory: a new limiter key in a full store is refused, existing ones still count', async () => {
      const store = new MemoryStore({ maxEntries: 2 });
      stores.push(store);
      const limiter = createLimiter(store, { keyPrefix: 'flood', points: 2, durationSec: 60 });
      await limiter.consume('alice');
      await store.set('live', 'v', 10_000);
      expect(store.size).to.equal(2);
      const refused = await limiter.consume('mallory-1').catch((err: unknown) => err);
      expect(refused).to.be.instanceOf(StoreError).with.property('code', 'ERR_STORE_FULL');
      expect((await limiter.consume('alice')).consumedPoints).to.equal(2);
      const over = await limiter.consume('alice').catch((res: unknown) => res);
      expect(over).to.have.property('consumedPoints', 3);
      expect(over).not.to.be.instanceOf(Error);
      expect(await store.get('live')).to.equal('v');
      await limiter.delete('alice');
      expect((await limiter.consume('mallory-1')).consumedPoints).to.equal(1);
    });

    it('rejects invalid options with a ConfigurationError', () => {
      expect(() => new MemoryStore({ maxEntries: 0 })).to.throw(ConfigurationError, /maxEntries/);
      expect(() => new MemoryStore({ sweepIntervalMs: -1 })).to.throw(ConfigurationError, /sweepIntervalMs/);
    });
  });

  describe('a custom store in one file (test/helpers/custom-store.ts: primitives only, over a Map)', () => {
    storeContract(() => new MapStore());

    it('a limiter over a store that throws answers a StoreError (ERR_STORE, 503), not the plain Error', async () => {
      const store = new MapStore();
      store.consume = async () => Promise.reject(new Error('connection reset'));
      const limiter = createLimiter(store, { keyPrefix: 'faulty', points: 3, durationSec: 60 });
      for (const call of [() => limiter.consume('k'), () => limiter.reward('k', 1), () => limiter.get('k')]) {
        const thrown = await call().catch((err: unknown) => err);
        expect(thrown).to.be.instanceOf(StoreError).that.includes({ code: 'ERR_STORE', status: 503 });
        expect((thrown as Error).cause).to.have.property('message', 'connection reset');
      }
    });
  });

  describe('RedisStore (node-redis)', function () {
    let client: RedisClientType;
    before(async function () {
      client = await redisOrSkip(this);
    });
    after(async () => {
      if (client?.isOpen) await client.close();
    });
    storeContract(() => new RedisStore({ client, prefix: uniquePrefix('store-node-redis') }));

    it('re-loads its scripts after SCRIPT FLUSH', async () => {
      const store = new RedisStore({ client, prefix: uniquePrefix('flush') });
      expect(await store.increment('c', 10_000)).to.equal(1);
      await store.set('d', 'v', 10_000);
      await client.sendCommand(['SCRIPT', 'FLUSH']);
      expect(await store.increment('c', 10_000)).to.equal(2);
      await client.sendCommand(['SCRIPT', 'FLUSH']);
      expect(await store.deleteIfEquals('d', 'v')).to.equal(true);
    });

    it('two stores on one Redis share state, as two app instances do', async () => {
      const prefix = uniquePrefix('shared');
      const a = new RedisStore({ client, prefix });
      const b = new RedisStore({ client, prefix });
      await a.set('k', 'from-a', 10_000);
      expect(await b.take('k')).to.equal('from-a');
      expect(await a.get('k')).to.equal(undefined);
    });

    it('turns a Redis failure into a StoreError', async () => {
      const broken = new RedisStore({
        client: { sendCommand: async () => Promise.reject(new Error('ECONNREFUSED')) },
      });
      let thrown: unknown;
      try {
        await broken.get('k');
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(StoreError).with.property('code', 'ERR_STORE');
    });
  });

  describe('RedisStore (ioredis)', function () {
    let client: Redis;
    before(async function () {
      client = await ioredisOrSkip(this);
    });
    after(() => client?.disconnect());
    storeContract(() => new RedisStore({ client, prefix: uniquePrefix('store-ioredis') }));
  });

  it('a store written for the older interface is refused when configured, naming what it lacks', () => {
    const {
      consume: _c,
      compareAndSet: _s,
      ...older
    } = Object.fromEntries(
      (
        [
          'set',
          'get',
          'take',
          'deleteIfEquals',
          'compareAndSet',
          'delete',
          'increment',
          'consume',
          'close',
        ] as const
      ).map((name) => [name, async () => undefined]),
    );
    const store = { ...older, createRateLimiter: () => ({}) } as unknown as Store;
    expect(() => new BasicLoginStrategy({ store }, () => false)).to.throw(
      ConfigurationError,
      /lacks compareAndSet, consume/,
    );
    expect(() => new XTokenManager({ secret: 'x'.repeat(32), store })).to.throw(
      ConfigurationError,
      /consume/,
    );
    expect(() => new OneTimeCodes({ secret: 'x'.repeat(32), store, namespace: 'n' })).to.throw(
      ConfigurationError,
      /OneTimeCodes: `store` must implement the Store interface; it lacks compareAndSet, consume/,
    );
  });

  it('RedisStore refuses something that is not a Redis client', () => {
    expect(() => new RedisStore({ client: {} as never })).to.throw(ConfigurationError, /node-redis/);
  });
});
