import { Cluster, Redis } from 'ioredis';
import { createCluster, createSentinel } from 'redis';
import type { RedisClientLike } from '../../src/exports/stores.js';
import type { Topologies } from './servers.js';

/** One way of reaching Redis at scale, as an application would connect. */
export interface ClientKind {
  name: string;
  connect(topologies: Topologies): Promise<{ client: RedisClientLike; close(): Promise<void> }>;
}

export const CLIENT_KINDS: ClientKind[] = [
  {
    name: 'node-redis createCluster()',
    async connect({ clusterNodes }) {
      const client = createCluster({
        rootNodes: clusterNodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
      });
      client.on('error', () => {});
      await client.connect();
      return { client, close: async () => client.close() };
    },
  },
  {
    name: 'ioredis Cluster',
    async connect({ clusterNodes }) {
      const client = new Cluster(clusterNodes, { lazyConnect: true });
      client.on('error', () => {});
      await client.connect();
      return { client, close: async () => void (await client.quit()) };
    },
  },
  {
    name: 'node-redis createSentinel()',
    async connect({ sentinels, sentinelName }) {
      const client = createSentinel({ name: sentinelName, sentinelRootNodes: sentinels });
      client.on('error', () => {});
      await client.connect();
      return { client, close: async () => client.close() };
    },
  },
  {
    name: 'ioredis through Sentinel',
    async connect({ sentinels, sentinelName }) {
      const client = new Redis({ sentinels, name: sentinelName, lazyConnect: true });
      client.on('error', () => {});
      await client.connect();
      return { client, close: async () => void (await client.quit()) };
    },
  },
];
