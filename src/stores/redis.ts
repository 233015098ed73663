import { createHash } from 'node:crypto';
import { RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ConfigurationError, StoreError } from '../errors.js';
import {
  ROLLING_MAX_PREDECESSORS,
  assertGrace,
  assertKey,
  assertMember,
  assertTtl,
  type RateLimiterSpec,
  type RollResult,
  type Store,
} from './store.js';

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
// Redis's own clock (TIME) times the grace, so instances with skewed clocks agree. A value that is
// not a rolling record (e.g. a family written by an older version) counts as absent: fail closed.
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const ROLL_SCRIPT = `local raw = redis.call('GET', KEYS[1])
if not raw then return {'absent'} end
local ok, rec = pcall(cjson.decode, raw)
if not ok or type(rec) ~= 'table' or type(rec.c) ~= 'string' or type(rec.d) ~= 'string' then return {'absent'} end
${NOW_MS}
local presented, nxt, grace, cap = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local previous = type(rec.p) == 'table' and rec.p or {}
if rec.c == presented then
  if nxt == '' then return {'current', rec.d, rec.c} end
  local kept = {}
  for _, p in ipairs(previous) do
    if tonumber(p[2]) > now then kept[#kept + 1] = p end
  end
  kept[#kept + 1] = {presented, now + grace}
  while #kept > cap do table.remove(kept, 1) end
  redis.call('SET', KEYS[1], cjson.encode({d = rec.d, c = nxt, p = kept}), 'KEEPTTL')
  return {'rolled', rec.d, nxt}
end
for _, p in ipairs(previous) do
  if p[1] == presented and tonumber(p[2]) > now then return {'grace', rec.d, rec.c} end
end
redis.call('DEL', KEYS[1])
return {'reused', rec.d}`;
// A sorted set scored by each member's expiry: expired members are pruned on every add.
const ADD_MEMBER_SCRIPT = `${NOW_MS}
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;
const TAKE_MEMBERS_SCRIPT = `${NOW_MS}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
redis.call('DEL', KEYS[1])
return members`;
const scriptSha = (script: string): string => createHash('sha1').update(script).digest('hex');
const INCREMENT_SHA = scriptSha(INCREMENT_SCRIPT);
const DELETE_IF_EQUALS_SHA = scriptSha(DELETE_IF_EQUALS_SCRIPT);
const ROLL_SHA = scriptSha(ROLL_SCRIPT);
const ADD_MEMBER_SHA = scriptSha(ADD_MEMBER_SCRIPT);
const TAKE_MEMBERS_SHA = scriptSha(TAKE_MEMBERS_SCRIPT);

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

  async setRolling(key: string, data: string, current: string, ttlMs: number): Promise<void> {
    assertMember(current, 'rolling member');
    await this.set(key, JSON.stringify({ d: data, c: current, p: [] }), ttlMs);
  }

  async roll(key: string, presented: string, next: string | undefined, graceMs: number): Promise<RollResult> {
    assertKey(key);
    assertMember(presented, 'rolling member');
    if (next !== undefined) assertMember(next, 'rolling member');
    assertGrace(graceMs);
    const reply = await this.#script(ROLL_SCRIPT, ROLL_SHA, this.#prefix + key, [
      presented,
      next ?? '',
      String(graceMs),
      String(ROLLING_MAX_PREDECESSORS),
    ]);
    if (!Array.isArray(reply)) throw new StoreError('Redis answered a roll with something else than a list.');
    const [status, data, current] = reply.map(asString);
    if (
      status !== 'rolled' &&
      status !== 'current' &&
      status !== 'grace' &&
      status !== 'reused' &&
      status !== 'absent'
    ) {
      throw new StoreError(`Redis answered a roll with an unknown status.`);
    }
    return {
      status,
      ...(data !== undefined ? { data } : {}),
      ...(current !== undefined ? { current } : {}),
    };
  }

  async addMember(key: string, member: string, ttlMs: number): Promise<void> {
    assertKey(key);
    assertMember(member);
    assertTtl(ttlMs);
    await this.#script(ADD_MEMBER_SCRIPT, ADD_MEMBER_SHA, this.#prefix + key, [member, String(ttlMs)]);
  }

  async takeMembers(key: string): Promise<string[]> {
    assertKey(key);
    const reply = await this.#script(TAKE_MEMBERS_SCRIPT, TAKE_MEMBERS_SHA, this.#prefix + key, []);
    if (!Array.isArray(reply)) throw new StoreError('Redis answered a member list with something else.');
    return reply.map((member) => asString(member) ?? '');
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
  async #script(script: string, sha: string, key: string, args: string | string[]): Promise<unknown> {
    const argv = typeof args === 'string' ? [args] : args;
    try {
      return await this.#command(['EVALSHA', sha, '1', key, ...argv]);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw storeError('EVALSHA', err);
      return this.#run('EVAL', [script, '1', key, ...argv]);
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
