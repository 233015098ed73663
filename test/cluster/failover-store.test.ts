import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { StoreError } from '../../src/index.js';
import { RedisStore, type RedisClientLike } from '../../src/exports/stores.js';
import { CLIENT_KINDS } from './clients.js';
import { CLUSTER_PORTS, SENTINEL_NAME, SENTINEL_PORTS, cli } from './servers.js';
import { topologiesOrSkip } from './setup.js';

/** The replica of the master holding `key`'s slot, from CLUSTER NODES. */
async function replicaFor(key: string): Promise<number> {
  const slot = Number(await cli(CLUSTER_PORTS[0]!, 'CLUSTER', 'KEYSLOT', key));
  const nodes = (await cli(CLUSTER_PORTS[0]!, 'CLUSTER', 'NODES')).split('\n').map((line) => line.split(' '));
  const master = nodes.find(
    ([, , flags, , , , , , ...ranges]) =>
      flags!.includes('master') &&
      ranges.some((range) => {
        const [from, to = from] = range.split('-').map(Number);
        return slot >= from! && slot <= to!;
      }),
  )!;
  const replica = nodes.find(([, , flags, masterId]) => flags!.includes('slave') && masterId === master[0])!;
  return Number(/:(\d+)@/.exec(replica[1]!)![1]);
}

/**
 * The store itself through a failover, with every client (the example-app suite covers
 * node-redis's in two processes): two connections race to take single-use keys and count attempts
 * while the master holding the keys switches. Each fault is a StoreError; no key is taken twice,
 * none comes back, and no count is handed out twice.
 */
for (const kind of CLIENT_KINDS) {
  describe(`RedisStore through a failover: ${kind.name}`, function () {
    this.timeout(120_000);
    const connections: { client: RedisClientLike; close(): Promise<void> }[] = [];
    before(async function () {
      const topologies = topologiesOrSkip(this);
      connections.push(await kind.connect(topologies), await kind.connect(topologies));
    });
    after(async () => Promise.all(connections.map((connection) => connection.close())));

    it('fails closed with StoreError during the switch; nothing is taken or counted twice; it serves again after', async () => {
      const isCluster = kind.name.includes('Cluster');
      const prefix = isCluster ? `{pf-fo-store-${randomUUID()}}:` : `pf-fo-store-${randomUUID()}:`;
      // Sentinel's replication is asynchronous: a take the old master answered can be lost in the
      // switch unless the store waits for the replica (the README's "Running at scale").
      const waitForReplicas = isCluster ? undefined : { replicas: 1, timeoutMs: 500 };
      const [one, two] = connections.map(
        ({ client }) => new RedisStore({ client, prefix, ...(waitForReplicas ? { waitForReplicas } : {}) }),
      ) as [RedisStore, RedisStore];
      const KEYS = 3000;
      for (let i = 0; i < KEYS; i += 500)
        await Promise.all(
          Array.from({ length: Math.min(500, KEYS - i) }, (_, j) =>
            one.set(`code-${i + j}`, `v${i + j}`, 120_000),
          ),
        );

      let failoverAt = Number.POSITIVE_INFINITY;
      const now = () => Date.now() - failoverAt;
      const faults: number[] = [];
      const foreign: unknown[] = [];
      const fault = (err: unknown) => {
        if (err instanceof StoreError) faults.push(now());
        else foreign.push(err);
        return 'fault' as const;
      };
      const taken = new Map<number, number>();
      const unanswered = new Set<number>();
      const counts: number[] = [];
      let stop = false;
      const load = (async () => {
        for (let i = 0; i < KEYS && !stop; i++) {
          const results = await Promise.all([
            one.take(`code-${i}`).catch(fault),
            two.take(`code-${i}`).catch(fault),
            one.increment('attempts', 120_000).catch(fault),
            two.increment('attempts', 120_000).catch(fault),
          ]);
          const takes = results.slice(0, 2).filter((r) => r === `v${i}`).length;
          taken.set(i, takes);
          if (takes === 0 && results.slice(0, 2).includes('fault')) unanswered.add(i);
          for (const count of results.slice(2)) if (typeof count === 'number') counts.push(count);
          if (results.includes('fault')) await sleep(20);
          else await sleep(2);
        }
      })();

      await sleep(500);
      if (isCluster) {
        const replica = await replicaFor(prefix);
        failoverAt = Date.now();
        expect(await cli(replica, 'CLUSTER', 'FAILOVER')).to.equal('OK');
        while (!(await cli(replica, 'ROLE')).startsWith('master') && now() < 30_000) await sleep(10);
      } else {
        const before = await cli(SENTINEL_PORTS[0]!, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME);
        failoverAt = Date.now();
        expect(await cli(SENTINEL_PORTS[0]!, 'SENTINEL', 'FAILOVER', SENTINEL_NAME)).to.equal('OK');
        while (
          (await cli(SENTINEL_PORTS[0]!, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME)) === before &&
          now() < 30_000
        )
          await sleep(10);
      }
      const promotedAfter = now();
      expect(promotedAfter, 'the replica was promoted').to.be.below(30_000);
      // Until the store has answered for 2 s without a fault (at most 30 s).
      while (now() - Math.max(faults.at(-1) ?? 0, promotedAfter) < 2000 && now() < 30_000) await sleep(100);
      stop = true;
      await load;

      // After: it serves again. A key taken before is still gone; one whose takes all failed is
      // taken exactly once now.
      const again = await Promise.all([...taken.keys()].map((i) => one.take(`code-${i}`)));
      const resurrected = [...taken.keys()].filter(
        (i, n) => taken.get(i)! > 0 && again[n] !== undefined,
      ).length;
      const recovered = [...unanswered].filter((i) => again[i] === `v${i}`).length;
      const doubles = [...taken.values()].filter((n) => n > 1).length;
      const duplicateCounts = counts.length - new Set(counts).size;
      process.stdout.write(
        `      ${kind.name}: promoted after ${promotedAfter} ms; ${taken.size} keys raced, ${faults.length} StoreErrors` +
          (faults.length > 0 ? ` from ${faults[0]} ms to ${faults.at(-1)} ms` : '') +
          `; taken twice: ${doubles}; came back: ${resurrected}; unanswered then taken once after: ${recovered}/${unanswered.size}; counts handed out twice: ${duplicateCounts}\n`,
      );
      expect(foreign, String(foreign[0])).to.deep.equal([]);
      expect(doubles, 'keys taken twice').to.equal(0);
      expect(resurrected, 'taken keys that came back').to.equal(0);
      expect(duplicateCounts, 'attempt counts handed out twice').to.equal(0);
      expect(await one.increment('after', 10_000)).to.equal(1);
      expect(await two.increment('after', 10_000)).to.equal(2);
    });
  });
}
