import { expect } from 'chai';
import { StoreError } from '../../src/index.js';
import { RedisStore } from '../../src/exports/stores.js';
import { createLimiter } from '../../src/internal/throttle.js';

/**
 * How RedisStore talks to each kind of client, with recording fakes (the real clients run in
 * `npm run test:cluster` against a real Redis Cluster and Sentinel).
 */
describe('RedisStore client adapter', () => {
  it('sends node-redis cluster commands with their key as firstKey, to the master (isReadonly false)', async () => {
    const sent: unknown[][] = [];
    const cluster = {
      getSlotRandomNode: () => ({}),
      sendCommand: async (...args: unknown[]) => {
        sent.push(args);
        const name = (args[2] as string[])[0];
        return name === 'GET' ? 'v' : name === 'EVALSHA' ? 1 : 'OK';
      },
    };
    const store = new RedisStore({ client: cluster, prefix: 'p:' });
    await store.set('k', 'v', 1000);
    expect(await store.get('k')).to.equal('v');
    await store.increment('n', 1000);
    expect(sent[0]).to.deep.equal(['p:k', false, ['SET', 'p:k', 'v', 'PX', '1000']]);
    expect(sent[1]).to.deep.equal(['p:k', false, ['GET', 'p:k']]);
    expect(sent[2]![0]).to.equal('p:n');
    expect((sent[2]![2] as string[]).slice(0, 4)).to.deep.equal([
      'EVALSHA',
      (sent[2]![2] as string[])[1],
      '1',
      'p:n',
    ]);
  });

  it('sends node-redis Sentinel commands to the master (isReadonly false)', async () => {
    const sent: unknown[][] = [];
    const sentinel = {
      getMasterNode: () => ({}),
      sendCommand: async (...args: unknown[]) => {
        sent.push(args);
        return null;
      },
    };
    const store = new RedisStore({ client: sentinel });
    expect(await store.take('k')).to.equal(undefined);
    expect(sent).to.deep.equal([[false, ['GETDEL', 'pf:k']]]);
  });

  it('a rate limiter whose Redis fails rejects with a StoreError (503), not the client’s error', async () => {
    const down = async () => Promise.reject(new Error('CLUSTERDOWN The cluster is down'));
    const store = new RedisStore({ client: { sendCommand: down, eval: down, del: down } as never });
    const limiter = createLimiter(store, { keyPrefix: 'rl', points: 3, durationSec: 60 });
    for (const call of [
      () => limiter.consume('alice'),
      () => limiter.penalty('alice'),
      () => limiter.delete('alice'),
    ]) {
      const fault = await call().catch((err: unknown) => err);
      expect(fault).to.be.instanceOf(StoreError).that.includes({ code: 'ERR_STORE', status: 503 });
      expect((fault as StoreError).cause).to.have.property('message', 'CLUSTERDOWN The cluster is down');
    }
  });
});

describe('RedisStore waitForReplicas: a write counts only once its replicas have it', () => {
  /** A standalone node-redis fake that answers WAIT with `acknowledged` and records every command. */
  function fake(acknowledged: number) {
    const sent: string[][] = [];
    const client = {
      sendCommand: async (args: string[]) => {
        sent.push(args);
        if (args[0] === 'WAIT') return acknowledged;
        if (args[0] === 'GETDEL' || args[0] === 'GET') return 'v';
        return args[0] === 'EVALSHA' ? 1 : 'OK';
      },
    };
    return { client, sent };
  }

  it('sends WAIT after every write (commands and scripts), never after a read', async () => {
    const { client, sent } = fake(1);
    const store = new RedisStore({ client, waitForReplicas: { replicas: 1, timeoutMs: 250 } });
    expect(await store.take('k')).to.equal('v');
    expect(await store.get('k')).to.equal('v');
    expect(await store.increment('n', 1000)).to.equal(1);
    expect(sent.map((args) => args[0])).to.deep.equal(['GETDEL', 'WAIT', 'GET', 'EVALSHA', 'WAIT']);
    expect(sent[1]).to.deep.equal(['WAIT', '1', '250']);
  });

  it('a take that fewer replicas acknowledged is a StoreError (503), and its value is not answered', async () => {
    const { client } = fake(0);
    const store = new RedisStore({ client, waitForReplicas: { replicas: 1, timeoutMs: 250 } });
    for (const call of [
      () => store.take('k'),
      () => store.increment('n', 1000),
      () => store.set('k', 'v', 1000),
    ]) {
      const fault = await call().catch((err: unknown) => err);
      expect(fault).to.be.instanceOf(StoreError).that.includes({ code: 'ERR_STORE', status: 503 });
    }
  });

  it('without the option no WAIT is sent; a bad option or an ioredis Cluster is refused at construction', async () => {
    const { client, sent } = fake(0);
    await new RedisStore({ client }).take('k');
    expect(sent.map((args) => args[0])).to.deep.equal(['GETDEL']);
    for (const waitForReplicas of [{ replicas: 0, timeoutMs: 100 }, { replicas: 1, timeoutMs: 1.5 }, 'yes']) {
      expect(() => new RedisStore({ client, waitForReplicas: waitForReplicas as never })).to.throw(
        /`waitForReplicas` must be/,
      );
    }
    const ioredisCluster = { isCluster: true, call: async () => 'OK' };
    expect(
      () =>
        new RedisStore({ client: ioredisCluster as never, waitForReplicas: { replicas: 1, timeoutMs: 100 } }),
    ).to.throw(/ioredis `Cluster`/);
  });
});
