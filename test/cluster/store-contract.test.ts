import { expect } from 'chai';
import { RedisStore, type RedisClientLike } from '../../src/exports/stores.js';
import { createLimiter } from '../../src/internal/throttle.js';
import { uniquePrefix } from '../helpers/redis.js';
import { storeContract } from '../unit/stores.test.js';
import { CLIENT_KINDS } from './clients.js';
import { CLUSTER_PORTS, cli } from './servers.js';
import { topologiesOrSkip } from './setup.js';

/** The store contract every strategy relies on, on Redis Cluster and Sentinel, with each client. */
for (const kind of CLIENT_KINDS) {
  describe(`RedisStore on ${kind.name}`, function () {
    this.timeout(30_000);
    let client: RedisClientLike;
    let close: () => Promise<void> = async () => {};
    before(async function () {
      ({ client, close } = await kind.connect(topologiesOrSkip(this)));
    });
    after(async () => close());

    storeContract(() => new RedisStore({ client, prefix: uniquePrefix(`contract-${kind.name}`) }));

    it('a rate limiter consumes and blocks on it', async () => {
      const store = new RedisStore({ client, prefix: uniquePrefix('limit') });
      const limiter = createLimiter(store, { keyPrefix: 'rl', points: 2, durationSec: 60 });
      expect((await limiter.consume('alice')).remainingPoints).to.equal(1);
      expect((await limiter.consume('alice')).remainingPoints).to.equal(0);
      const refused = await limiter.consume('alice').catch((res: unknown) => res);
      expect(refused).to.not.be.instanceOf(Error);
      expect(refused).to.have.property('consumedPoints', 3);
      expect((await limiter.consume('bob')).consumedPoints).to.equal(1);
    });

    if (kind.name.includes('Cluster')) {
      it('spreads its keys over the three masters (no CROSSSLOT, every command routed to its slot)', async () => {
        const prefix = uniquePrefix('spread');
        const store = new RedisStore({ client, prefix });
        const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
        await Promise.all(keys.map((key) => store.set(key, key, 30_000)));
        await Promise.all(keys.map((key) => store.increment(`n-${key}`, 30_000)));
        await Promise.all(keys.map((key) => store.setRolling(`f-${key}`, 'data', 'm0', 30_000)));
        const perMaster: number[] = [];
        for (const port of CLUSTER_PORTS) {
          if (!(await cli(port, 'ROLE')).startsWith('master')) continue;
          const found = (await cli(port, '--scan', '--pattern', `${prefix}*`)).split('\n').filter(Boolean);
          perMaster.push(found.length);
        }
        expect(perMaster).to.have.length(3);
        expect(
          perMaster.every((count) => count > 0),
          `keys per master: ${perMaster.join(', ')}`,
        ).to.equal(true);
        expect(perMaster.reduce((x, y) => x + y)).to.equal(180);
        expect(await Promise.all(keys.map((key) => store.take(key)))).to.deep.equal(keys);
        expect((await store.roll('f-k7', 'm0', 'm1', 1000)).status).to.equal('rolled');
      });
    }
  });
}
