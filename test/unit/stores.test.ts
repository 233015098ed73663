import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { RedisClientType } from 'redis';
import type { Redis } from 'ioredis';
import { MemoryStore, RedisStore, StoreError, ConfigurationError, type Store } from '../../src/index.js';
import { ioredisOrSkip, redisOrSkip, uniquePrefix } from '../helpers/redis.js';

/** One contract, run against every store: what a strategy may rely on. */
function storeContract(makeStore: () => Store): void {
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
    await store.set('short', 'v', 60);
    expect(await store.get('short')).to.equal('v');
    await sleep(120);
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
    await store.setRolling('fam', 'alice', 'm0', 60_000);
    expect(await store.roll('fam', 'm0', undefined, 500)).to.deep.equal({
      status: 'current',
      data: 'alice',
      current: 'm0',
    });
    expect(await store.roll('fam', 'm0', 'm1', 300)).to.deep.equal({
      status: 'rolled',
      data: 'alice',
      current: 'm1',
    });
    // Within the grace the predecessor answers the current member, and rolls nothing.
    expect(await store.roll('fam', 'm0', 'x1', 300)).to.deep.equal({
      status: 'grace',
      data: 'alice',
      current: 'm1',
    });
    expect(await store.roll('fam', 'm1', 'm2', 300)).to.deep.equal({
      status: 'rolled',
      data: 'alice',
      current: 'm2',
    });
    // m0's grace started when m1 replaced it, and still runs although m1 has been replaced since.
    expect((await store.roll('fam', 'm0', undefined, 300)).status).to.equal('grace');
    await sleep(350);
    // After the grace: reuse, and the whole record is gone, the current member too.
    expect(await store.roll('fam', 'm0', 'x2', 300)).to.deep.equal({ status: 'reused', data: 'alice' });
    expect((await store.roll('fam', 'm2', 'm3', 300)).status).to.equal('absent');
  });

  it('roll(): a member that was never current is reuse; an absent record is absent', async () => {
    await store.setRolling('fam2', 'bob', 'a', 60_000);
    expect((await store.roll('fam2', 'never', undefined, 1000)).status).to.equal('reused');
    expect(await store.roll('fam2', 'a', undefined, 1000)).to.deep.equal({ status: 'absent' });
    expect(await store.roll('nothing', 'a', 'b', 1000)).to.deep.equal({ status: 'absent' });
    await store.set('plain', 'not a rolling record', 60_000);
    expect((await store.roll('plain', 'a', 'b', 1000)).status).to.equal('absent');
  });

  it('of 40 concurrent roll() calls of the current member exactly one rolls; the others are in grace', async () => {
    await store.setRolling('fam3', 'carol', 'c0', 60_000);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => store.roll('fam3', 'c0', `next${i}`, 5000)),
    );
    const rolled = results.filter((r) => r.status === 'rolled');
    expect(rolled).to.have.length(1);
    expect(results.filter((r) => r.status === 'grace')).to.have.length(39);
    for (const r of results) expect(r.current).to.equal(rolled[0]!.current);
  });

  it('roll() keeps the record’s lifetime: rolling never extends it', async () => {
    await store.setRolling('fam4', 'dave', 'd0', 250);
    await sleep(150);
    expect((await store.roll('fam4', 'd0', 'd1', 1000)).status).to.equal('rolled');
    await sleep(150);
    expect((await store.roll('fam4', 'd1', undefined, 1000)).status).to.equal('absent');
  });

  it('addMember() and takeMembers(): members expire on their own; take returns the live ones once', async () => {
    await store.addMember('user', 's1', 60_000);
    await store.addMember('user', 's2', 100);
    await store.addMember('user', 's3', 60_000);
    await sleep(150);
    expect((await store.takeMembers('user')).sort()).to.deep.equal(['s1', 's3']);
    expect(await store.takeMembers('user')).to.deep.equal([]);
    await store.addMember('user', 's4', 60_000);
    expect(await store.takeMembers('user')).to.deep.equal(['s4']);
  });

  it('refuses members outside [A-Za-z0-9_-] and negative graces', async () => {
    for (const attempt of [
      () => store.setRolling('f', 'd', 'a b', 1000),
      () => store.roll('f', 'a', 'b c', 1000),
      () => store.roll('f', 'a', 'b', -1),
      () => store.addMember('u', '', 1000),
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

  it('createRateLimiter() counts failures in the same storage', async () => {
    const limiter = store.createRateLimiter({ keyPrefix: 'rl-contract', points: 3, durationSec: 60 });
    await limiter.penalty('alice', 1);
    await limiter.penalty('alice', 1);
    const res = await limiter.get('alice');
    expect(res?.consumedPoints).to.equal(2);
    expect(res?.msBeforeNext).to.be.greaterThan(0).and.at.most(60_000);
    await limiter.delete('alice');
    expect(await limiter.get('alice')).to.equal(null);
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

    it('U5: its rate limiters count in the same bounded memory: a new limiter key in a full store is refused, existing ones still count', async () => {
      const store = new MemoryStore({ maxEntries: 2 });
      stores.push(store);
      const limiter = store.createRateLimiter({ keyPrefix: 'flood', points: 2, durationSec: 60 });
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

  it('RedisStore refuses something that is not a Redis client', () => {
    expect(() => new RedisStore({ client: {} as never })).to.throw(ConfigurationError, /node-redis/);
  });
});
