import { createHash } from 'node:crypto';
import { RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ConfigurationError, StoreError } from '../errors.js';
import { assertKey, assertTtl, type RateLimiterSpec, type Store } from './store.js';

/** A connected node-redis (`redis` v4 or later) client: anything with `sendCommand(args)`. */
export interface NodeRedisClientLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/** A connected ioredis client: anything with `call(command, ...args)`. */
export interface IORedisClientLike {
  call(command: string, ...args: string[]): Promise<unknown>;
}

export interface RedisStoreOptions {
  /**
   * The application's own connected client: node-redis (`redis` ≥ 4, tested with 5) or ioredis
   * (tested with 5). The store never connects, reconnects or quits it.
   */
  client: NodeRedisClientLike | IORedisClientLike;
  /** Prefix for every key this store writes (default `'pf:'`). */
  prefix?: string;
}

// INCR then PEXPIRE only on the first increment, in one script so no crash between the two
// commands can leave a counter without a lifetime.
const INCREMENT_SCRIPT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;
const DELETE_IF_EQUALS_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;
const scriptSha = (script: string): string => createHash('sha1').update(script).digest('hex');
const INCREMENT_SHA = scriptSha(INCREMENT_SCRIPT);
const DELETE_IF_EQUALS_SHA = scriptSha(DELETE_IF_EQUALS_SCRIPT);

/**
 * A store on Redis ≥ 6.2, shared by every app instance that uses the same Redis and prefix.
 * `take` is `GETDEL`; `increment` is one Lua script; both are atomic across processes.
 */
export class RedisStore implements Store {
  readonly #command: (args: string[]) => Promise<unknown>;
  readonly #client: NodeRedisClientLike | IORedisClientLike;
  readonly #isIORedis: boolean;
  readonly #prefix: string;

  constructor(options: RedisStoreOptions) {
    const client = options?.client as Partial<NodeRedisClientLike & IORedisClientLike> | undefined;
    const { prefix = 'pf:' } = options ?? {};
    if (typeof prefix !== 'string') throw new ConfigurationError('RedisStore: `prefix` must be a string.');
    if (client && typeof client.call === 'function') {
      const call = client.call.bind(client);
      this.#command = ([name, ...args]) => call(name as string, ...args);
      this.#isIORedis = true;
    } else if (client && typeof client.sendCommand === 'function') {
      const send = client.sendCommand.bind(client);
      this.#command = (args) => send(args);
      this.#isIORedis = false;
    } else {
      throw new ConfigurationError(
        'RedisStore: `client` must be a connected node-redis client (`createClient()` from `redis`) or an ioredis client.',
      );
    }
    this.#client = options.client;
    this.#prefix = prefix;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    assertKey(key);
    assertTtl(ttlMs);
    if (typeof value !== 'string') throw new TypeError('A store value must be a string.');
    await this.#run('SET', [this.#prefix + key, value, 'PX', String(ttlMs)]);
  }

  async get(key: string): Promise<string | undefined> {
    assertKey(key);
    return asString(await this.#run('GET', [this.#prefix + key]));
  }

  async take(key: string): Promise<string | undefined> {
    assertKey(key);
    return asString(await this.#run('GETDEL', [this.#prefix + key]));
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    assertKey(key);
    const reply = await this.#script(
      DELETE_IF_EQUALS_SCRIPT,
      DELETE_IF_EQUALS_SHA,
      this.#prefix + key,
      expected,
    );
    return Number(reply) === 1;
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    await this.#run('DEL', [this.#prefix + key]);
  }

  async increment(key: string, ttlMs: number): Promise<number> {
    assertKey(key);
    assertTtl(ttlMs);
    const reply = await this.#script(INCREMENT_SCRIPT, INCREMENT_SHA, this.#prefix + key, String(ttlMs));
    const count = Number(reply);
    if (!Number.isSafeInteger(count)) throw new StoreError(`Redis answered a counter with ${String(reply)}.`);
    return count;
  }

  createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract {
    return new RateLimiterRedis({
      storeClient: this.#client,
      useRedisPackage: !this.#isIORedis,
      keyPrefix: this.#prefix + spec.keyPrefix,
      points: spec.points,
      duration: spec.durationSec,
      ...(spec.blockDurationSec !== undefined ? { blockDuration: spec.blockDurationSec } : {}),
    });
  }

  async close(): Promise<void> {
    // The client belongs to the application, which closes it.
  }

  /** Runs a Lua script by its SHA, loading it with EVAL when Redis does not know it yet. */
  async #script(script: string, sha: string, key: string, arg: string): Promise<unknown> {
    try {
      return await this.#command(['EVALSHA', sha, '1', key, arg]);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw storeError('EVALSHA', err);
      return this.#run('EVAL', [script, '1', key, arg]);
    }
  }

  async #run(name: string, args: string[]): Promise<unknown> {
    try {
      return await this.#command([name, ...args]);
    } catch (err) {
      throw storeError(name, err);
    }
  }
}

function storeError(command: string, cause: unknown): StoreError {
  return new StoreError(`Redis ${command} failed; check that Redis (≥ 6.2) is reachable.`, { cause });
}

function asString(reply: unknown): string | undefined {
  if (reply === null || reply === undefined) return undefined;
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  throw new StoreError(`Redis answered with an unexpected ${typeof reply}.`);
}
