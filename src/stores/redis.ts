import { createHash } from 'node:crypto';
import { ConfigurationError, StoreError } from '../errors.js';
import {
  ROLLING_MAX_PREDECESSORS,
  assertGrace,
  assertKey,
  assertMember,
  assertPoints,
  assertRedemption,
  assertTtl,
  assertValue,
  type CodeRedemption,
  type CodeRedemptionResult,
  type ConsumeResult,
  type RollResult,
  type Store,
} from './store.js';

/** A connected node-redis (`redis` v4 or later) client: anything with `sendCommand(args)`. */
export interface NodeRedisClientLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * A connected node-redis cluster client (`createCluster()` from `redis` ≥ 4): its
 * `sendCommand(firstKey, isReadonly, args)` sends a command to the master of the key's hash slot.
 */
export interface NodeRedisClusterLike {
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
  ): Promise<unknown>;
  /** Present on node-redis's cluster client only: how the store tells it from a single client. */
  getSlotRandomNode(slot: number): unknown;
}

/**
 * A connected node-redis Sentinel client (`createSentinel()` from `redis` ≥ 5): its
 * `sendCommand(isReadonly, args)` goes to the master the sentinels currently name.
 */
export interface NodeRedisSentinelLike {
  sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  /** Present on node-redis's Sentinel client only: how the store tells it from a single client. */
  getMasterNode(): unknown;
}

/**
 * A connected ioredis client: anything with `call(command, ...args)`. That is ioredis's `Redis`
 * (standalone, or through Sentinel with the `sentinels` option) and its `Cluster`, which routes
 * each command to the master of its key's hash slot.
 */
export interface IORedisClientLike {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** Every client `RedisStore` accepts. */
export type RedisClientLike =
  NodeRedisClientLike | NodeRedisClusterLike | NodeRedisSentinelLike | IORedisClientLike;

export interface RedisStoreOptions {
  /**
   * The application's own connected client. Accepted: a node-redis client (`createClient()`), a
   * node-redis cluster (`createCluster()`) or Sentinel client (`createSentinel()`) from `redis` ≥ 4
   * (tested with 5), or an ioredis `Redis` (standalone or through Sentinel) or `Cluster` (tested
   * with 5). The store never connects, reconnects or quits it.
   */
  client: RedisClientLike;
  /**
   * Prefix for every key this store writes (default `'pf:'`). On Redis Cluster, leave braces out
   * of it: a `{...}` in the prefix would become every key's hash tag and put all keys in one slot.
   */
  prefix?: string;
  /**
   * Waits, after every write, until this many replicas have it (Redis `WAIT replicas timeoutMs`);
   * a write that fewer replicas acknowledged in time is a `StoreError` (503), and its answer is
   * not used (default: off). Redis replicates asynchronously: without this, a failover can lose a
   * write the old master answered, so a code or token already taken could be taken again. Set it
   * on Sentinel or any primary with replicas, e.g. `{ replicas: 1, timeoutMs: 500 }`. Not with an
   * ioredis `Cluster` (it sends a keyless `WAIT` to a random node); node-redis `createCluster()`
   * sends it to the key's master.
   */
  waitForReplicas?: { replicas: number; timeoutMs: number };
}

/**
 * Sends one command to the master holding `key` (the key the command works on: the cluster
 * clients route by it). Never to a replica: replicas may lag, and single use must read what the
 * master holds.
 */
type Send = (key: string, args: string[]) => Promise<unknown>;

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
if not ok or type(rec) ~= 'table' or type(rec.c) ~= 'string' or type(rec.d) ~= 'string' or type(rec.p) ~= 'table' then
  return {'absent'}
end
for _, p in ipairs(rec.p) do
  if type(p) ~= 'table' or type(p[1]) ~= 'string' or type(p[2]) ~= 'number' then return {'absent'} end
end
${NOW_MS}
local presented, nxt, grace, cap = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local previous = rec.p
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
// A sorted set scored by each member's expiry: expired members are pruned on every add. A value of
// another type under the key is not a member set: an add replaces it, a take finds no members.
const NOT_A_SET = `local kind = redis.call('TYPE', KEYS[1])
local foreign = kind.ok ~= 'zset' and kind.ok ~= 'none'`;
const ADD_MEMBER_SCRIPT = `${NOW_MS}
${NOT_A_SET}
if foreign then redis.call('DEL', KEYS[1]) end
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;
const TAKE_MEMBERS_SCRIPT = `${NOW_MS}
${NOT_A_SET}
if foreign then
  redis.call('DEL', KEYS[1])
  return {}
end
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
redis.call('DEL', KEYS[1])
return members`;
const COMPARE_AND_SET_SCRIPT = `local value = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if value ~= ARGV[2] then return 0 end
elseif value then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1`;
// A window counter (the same layout as rate-limiter-flexible's RateLimiterRedis: an integer with a
// PX lifetime set by the first consume). A key left without a lifetime gets one, so none lives on.
const COUNTER = `local function consume(key, points, window)
  redis.call('SET', key, 0, 'PX', window, 'NX')
  local n = redis.call('INCRBY', key, points)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  return n, ttl
end`;
const CONSUME_SCRIPT = `${COUNTER}
local points, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if points == 0 then
  local value = redis.call('GET', KEYS[1])
  if not value then return {0, 0} end
  return {tonumber(value) or 0, math.max(redis.call('PTTL', KEYS[1]), 0)}
end
local n, ttl = consume(KEYS[1], points, window)
return {n, ttl}`;
// One attempt at a one-time code, in one step: KEYS = the code, its attempt counter, its owner's
// attempt counter. Callers put the three keys in one hash slot with a shared {…} hash tag (see
// OneTimeCodes), so the script also runs on Redis Cluster. The MAC comparison takes the same time
// wherever the MACs differ.
const REDEEM_CODE_SCRIPT = `${COUNTER}
local mac, maxAttempts, maxUser = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local window, now = tonumber(ARGV[4]), tonumber(ARGV[5])
-- An attempt past either limit is locked and spends nothing.
local counts = redis.call('MGET', KEYS[2], KEYS[3])
if (tonumber(counts[1]) or 0) >= maxAttempts then return {'locked', 0, math.max(redis.call('PTTL', KEYS[2]), 0)} end
if (tonumber(counts[2]) or 0) >= maxUser then return {'locked', 0, math.max(redis.call('PTTL', KEYS[3]), 0)} end
local raw = redis.call('GET', KEYS[1])
local dot = raw and string.find(raw, '.', 1, true)
local expiresAt
if dot and dot >= 2 and #raw == dot + #mac and string.match(string.sub(raw, 1, dot - 1), '^[0-9a-z]+$') then
  expiresAt = tonumber(string.sub(raw, 1, dot - 1), 36)
end
if expiresAt and now < expiresAt then
  local diff = 0
  for i = 1, #mac do
    diff = bit.bor(diff, bit.bxor(string.byte(raw, dot + i), string.byte(mac, i)))
  end
  -- The right code: redeemed, and its owner's attempts forgotten (counting it first would be undone).
  if diff == 0 then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
    return {'redeemed'}
  end
end
-- Every other attempt counts, on the code and on its owner, whatever it finds.
local n, nttl = consume(KEYS[2], 1, window)
local u, uttl = consume(KEYS[3], 1, window)
if not expiresAt then return {'absent'} end
if now >= expiresAt then
  redis.call('DEL', KEYS[1])
  return {'expired'}
end
local left, userLeft = maxAttempts - n, maxUser - u
if math.min(left, userLeft) <= 0 then
  redis.call('DEL', KEYS[1])
  if left <= userLeft then return {'locked', 0, nttl} end
  return {'locked', 0, uttl}
end
return {'wrong', math.min(left, userLeft)}`;
const scriptSha = (script: string): string => createHash('sha1').update(script).digest('hex');
const INCREMENT_SHA = scriptSha(INCREMENT_SCRIPT);
const DELETE_IF_EQUALS_SHA = scriptSha(DELETE_IF_EQUALS_SCRIPT);
const ROLL_SHA = scriptSha(ROLL_SCRIPT);
const ADD_MEMBER_SHA = scriptSha(ADD_MEMBER_SCRIPT);
const TAKE_MEMBERS_SHA = scriptSha(TAKE_MEMBERS_SCRIPT);
const COMPARE_AND_SET_SHA = scriptSha(COMPARE_AND_SET_SCRIPT);
const CONSUME_SHA = scriptSha(CONSUME_SCRIPT);
const REDEEM_CODE_SHA = scriptSha(REDEEM_CODE_SCRIPT);

/**
 * A store on Redis ≥ 6.2, shared by every app instance that uses the same Redis and prefix.
 * `take` is `GETDEL`; `increment` is one Lua script; both are atomic across processes.
 */
export class RedisStore implements Store {
  readonly #send: Send;
  readonly #prefix: string;
  readonly #waitArgs: string[] | undefined;

  constructor(options: RedisStoreOptions) {
    const client = options?.client as
      Partial<NodeRedisClusterLike & NodeRedisSentinelLike & IORedisClientLike> | undefined;
    const { prefix = 'pf:' } = options ?? {};
    if (typeof prefix !== 'string') throw new ConfigurationError('RedisStore: `prefix` must be a string.');
    const send = client ? adapt(client) : undefined;
    if (!send) {
      throw new ConfigurationError(
        'RedisStore: `client` must be a connected node-redis client (`createClient()`, `createCluster()` or `createSentinel()` from `redis`) or an ioredis `Redis` or `Cluster`.',
      );
    }
    this.#send = send;
    this.#prefix = prefix;
    this.#waitArgs = waitOption(options.waitForReplicas, client as { isCluster?: unknown });
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    assertKey(key);
    assertTtl(ttlMs);
    assertValue(value);
    await this.#run(this.#prefix + key, ['SET', this.#prefix + key, value, 'PX', String(ttlMs)]);
  }

  async get(key: string): Promise<string | undefined> {
    assertKey(key);
    return asString(await this.#run(this.#prefix + key, ['GET', this.#prefix + key], false));
  }

  async take(key: string): Promise<string | undefined> {
    assertKey(key);
    return asString(await this.#run(this.#prefix + key, ['GETDEL', this.#prefix + key]));
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
    await this.#run(this.#prefix + key, ['DEL', this.#prefix + key]);
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

  async compareAndSet(
    key: string,
    expected: string | undefined,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    assertKey(key);
    assertTtl(ttlMs);
    assertValue(value);
    const reply = await this.#script(COMPARE_AND_SET_SCRIPT, COMPARE_AND_SET_SHA, this.#prefix + key, [
      expected === undefined ? '0' : '1',
      expected ?? '',
      value,
      String(ttlMs),
    ]);
    return Number(reply) === 1;
  }

  async consume(key: string, points: number, windowMs: number): Promise<ConsumeResult> {
    assertKey(key);
    assertPoints(points);
    assertTtl(windowMs);
    const reply = await this.#script(CONSUME_SCRIPT, CONSUME_SHA, this.#prefix + key, [
      String(points),
      String(windowMs),
    ]);
    const [consumed, msBeforeNext] = Array.isArray(reply) ? reply.map(Number) : [];
    if (!Number.isSafeInteger(consumed) || !Number.isSafeInteger(msBeforeNext)) {
      throw new StoreError(`Redis answered a counter with ${String(reply)}.`);
    }
    return { consumed: consumed!, msBeforeNext: msBeforeNext! };
  }

  /** One Lua script: count, compare, consume (see `Store.redeemCode`). */
  async redeemCode(request: CodeRedemption): Promise<CodeRedemptionResult> {
    assertRedemption(request);
    const reply = await this.#script(
      REDEEM_CODE_SCRIPT,
      REDEEM_CODE_SHA,
      [request.key, request.attemptsKey, request.userAttemptsKey].map((key) => this.#prefix + key),
      [
        request.mac,
        String(request.maxAttempts),
        String(request.maxUserAttempts),
        String(request.windowMs),
        String(request.now),
      ],
    );
    if (!Array.isArray(reply))
      throw new StoreError('Redis answered a redemption with something else than a list.');
    const status = asString(reply[0]);
    const number = Number(reply[1]);
    switch (status) {
      case 'redeemed':
      case 'expired':
      case 'absent':
        return { status };
      case 'wrong':
        if (Number.isSafeInteger(number)) return { status, remaining: number };
        break;
      case 'locked':
        if (Number.isSafeInteger(Number(reply[2]))) return { status, msBeforeNext: Number(reply[2]) };
        break;
    }
    throw new StoreError('Redis answered a redemption with an unknown status.');
  }

  async close(): Promise<void> {
    // The client belongs to the application, which closes it.
  }

  /**
   * Runs a Lua script by its SHA, loading it with EVAL when Redis does not know it yet (as a new
   * master does after a failover). A script's keys share one hash slot (see the key layout), and
   * the first key routes it on a cluster.
   */
  async #script(
    script: string,
    sha: string,
    key: string | string[],
    args: string | string[],
  ): Promise<unknown> {
    const argv = typeof args === 'string' ? [args] : args;
    const keys = typeof key === 'string' ? [key] : key;
    try {
      const reply = await this.#send(keys[0]!, ['EVALSHA', sha, String(keys.length), ...keys, ...argv]);
      await this.#replicated(keys[0]!);
      return reply;
    } catch (err) {
      if (err instanceof StoreError) throw err;
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw storeError('EVALSHA', err);
      return this.#run(keys[0]!, ['EVAL', script, String(keys.length), ...keys, ...argv]);
    }
  }

  /** Sends one command; a write waits for its replicas when `waitForReplicas` is set. */
  async #run(key: string, args: string[], writes = true): Promise<unknown> {
    let reply: unknown;
    try {
      reply = await this.#send(key, args);
    } catch (err) {
      throw storeError(args[0]!, err);
    }
    if (writes) await this.#replicated(key);
    return reply;
  }

  /** Every script may write: each one waits for its replicas like a write command. */
  async #replicated(key: string): Promise<void> {
    if (!this.#waitArgs) return;
    let acknowledged: unknown;
    try {
      acknowledged = await this.#send(key, this.#waitArgs);
    } catch (err) {
      throw storeError('WAIT', err);
    }
    const [, replicas, timeoutMs] = this.#waitArgs;
    if (!(Number(acknowledged) >= Number(replicas))) {
      throw new StoreError(
        `Redis replicated a write to ${String(acknowledged)} of ${replicas} replicas within ${timeoutMs} ms; its answer is not used, since a failover could lose it.`,
      );
    }
  }
}

/**
 * How commands reach each kind of client. The ioredis clients (`Redis`, also through Sentinel, and
 * `Cluster`) take `call()` and find the key themselves; node-redis's three clients each have their
 * own `sendCommand()`: the cluster's routes by the key it is given, the Sentinel's goes to the
 * current master.
 */
function adapt(
  client: Partial<NodeRedisClusterLike & NodeRedisSentinelLike & IORedisClientLike>,
): Send | undefined {
  if (typeof client.call === 'function') {
    const call = client.call.bind(client);
    return (_key, [name, ...args]) => call(name!, ...args);
  }
  const sendCommand = client.sendCommand as ((...args: unknown[]) => Promise<unknown>) | undefined;
  if (typeof sendCommand !== 'function') return undefined;
  const send = sendCommand.bind(client);
  if (typeof client.getSlotRandomNode === 'function') return (key, args) => send(key, false, args);
  if (typeof client.getMasterNode === 'function') return (_key, args) => send(false, args);
  return (_key, args) => send(args);
}

/** `waitForReplicas` as the WAIT command's arguments, validated. */
function waitOption(value: unknown, client: { isCluster?: unknown }): string[] | undefined {
  if (value === undefined) return undefined;
  const { replicas, timeoutMs } = (value ?? {}) as { replicas?: unknown; timeoutMs?: unknown };
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
  if (typeof value !== 'object' || value === null || !whole(replicas) || !whole(timeoutMs)) {
    throw new ConfigurationError(
      'RedisStore: `waitForReplicas` must be `{ replicas, timeoutMs }`, both positive whole numbers.',
    );
  }
  if (client.isCluster === true) {
    throw new ConfigurationError(
      'RedisStore: `waitForReplicas` needs WAIT sent to the master of the key, which an ioredis `Cluster` cannot do; use node-redis `createCluster()`.',
    );
  }
  return ['WAIT', String(replicas), String(timeoutMs)];
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
