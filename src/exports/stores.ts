/**
 * `passport-factors/stores`: where pending challenges, counters and token families live. The
 * bounded in-memory default, the Redis store (node-redis or ioredis) for several instances, and
 * the `Store` contract a store of your own implements.
 *
 * @module passport-factors/stores
 */
export type {
  CodeRedemption,
  CodeRedemptionResult,
  ConsumeResult,
  RollResult,
  Store,
} from '../stores/store.js';
export { MemoryStore, type MemoryStoreOptions } from '../stores/memory.js';
export {
  RedisStore,
  type IORedisClientLike,
  type NodeRedisClientLike,
  type NodeRedisClusterLike,
  type NodeRedisSentinelLike,
  type RedisClientLike,
  type RedisStoreOptions,
} from '../stores/redis.js';
