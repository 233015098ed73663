import { createClient, type RedisClientType } from 'redis';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const IN_CI = process.env.CI === 'true';

/**
 * Connects to the test Redis. On a laptop without Redis the calling suite is skipped with a
 * message saying so; under CI=true a missing Redis fails the suite instead.
 */
export async function redisOrSkip(ctx: Mocha.Context): Promise<RedisClientType> {
  const client: RedisClientType = createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 2000, reconnectStrategy: false },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (err) {
    if (IN_CI)
      throw new Error(`Redis is required under CI=true but did not answer at ${REDIS_URL}: ${String(err)}`);
    console.warn(`      ⚠ SKIPPED: no Redis answers at ${REDIS_URL} (set REDIS_URL, or start redis-server).`);
    ctx.skip();
    throw err;
  }
}

export async function ioredisOrSkip(ctx: Mocha.Context): Promise<Redis> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (err) {
    client.disconnect();
    if (IN_CI)
      throw new Error(`Redis is required under CI=true but did not answer at ${REDIS_URL}: ${String(err)}`);
    console.warn(`      ⚠ SKIPPED: no Redis answers at ${REDIS_URL} (set REDIS_URL, or start redis-server).`);
    ctx.skip();
    throw err;
  }
}

/** A key prefix unique to one test run, so parallel runs and leftovers never collide. */
export function uniquePrefix(label: string): string {
  return `pf-test:${label}:${process.pid}:${Date.now().toString(36)}:`;
}
