import type { RedisBackend } from '../helpers/instances.js';
import { topologiesOrSkip } from './setup.js';

const addresses = (nodes: { host: string; port: number }[]) =>
  nodes.map(({ host, port }) => `${host}:${port}`).join(',');

/**
 * The example app's Redis, for the two-process suites: the local Redis Cluster (node-redis
 * `createCluster()` in each process) or the Sentinel setup (`createSentinel()`). Their keys go
 * with the topologies' temp dirs at the end of the run.
 */
export const BACKENDS: { name: string; backend: (env?: NodeJS.ProcessEnv) => RedisBackend }[] = [
  {
    name: 'Redis Cluster',
    backend: (extra = {}) => ({
      environment: async (ctx) => ({
        REDIS_CLUSTER: addresses(topologiesOrSkip(ctx).clusterNodes),
        ...extra,
      }),
      cleanup: async () => {},
    }),
  },
  {
    name: 'Sentinel',
    backend: (extra = {}) => ({
      environment: async (ctx) => {
        const { sentinels, sentinelName } = topologiesOrSkip(ctx);
        return { REDIS_SENTINELS: addresses(sentinels), REDIS_SENTINEL_NAME: sentinelName, ...extra };
      },
      cleanup: async () => {},
    }),
  },
];
