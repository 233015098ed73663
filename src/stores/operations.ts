import { timingSafeEqual } from 'node:crypto';
import { PassportFactorsError, StoreError } from '../errors.js';
import {
  ROLLING_MAX_PREDECESSORS,
  assertGrace,
  assertKey,
  assertMember,
  assertRedemption,
  assertTtl,
  type CodeRedemption,
  type CodeRedemptionResult,
  type ConsumeResult,
  type RollResult,
  type Store,
} from './store.js';

// The store's composite operations: a store's own one-step version when it has one, else the same
// guarantees built on the required primitives (compare-and-set loops), so a custom store needs
// only the primitives. Every record read back is validated: one that is not ours is "no state".

/** Re-reads after a lost compare-and-set before giving up with a StoreError (contention). */
const MAX_TRIES = 64;

/** A rolling record: data, current member, superseded members with their grace end, and (built on the primitives) its expiry. */
export interface RollingRecord {
  d: string;
  c: string;
  p: Array<[member: string, until: number]>;
  x?: number;
}

/** Creates (or replaces) a rolling record; see `Store.setRolling`. */
export async function setRolling(
  store: Store,
  key: string,
  data: string,
  current: string,
  ttlMs: number,
): Promise<void> {
  assertMember(current, 'rolling member');
  if (store.setRolling) return store.setRolling(key, data, current, ttlMs);
  assertTtl(ttlMs);
  const record: RollingRecord = { d: data, c: current, p: [], x: Date.now() + ttlMs };
  await store.set(key, JSON.stringify(record), ttlMs);
}

/** Checks and rotates a rolling record's member atomically; see `Store.roll`. */
export async function roll(
  store: Store,
  key: string,
  presented: string,
  next: string | undefined,
  graceMs: number,
): Promise<RollResult> {
  assertKey(key);
  assertMember(presented, 'rolling member');
  if (next !== undefined) assertMember(next, 'rolling member');
  assertGrace(graceMs);
  if (store.roll) return checkedRoll(await store.roll(key, presented, next, graceMs));
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const raw = await store.get(key);
    const record = raw === undefined ? undefined : parseRolling(raw);
    const now = Date.now();
    if (raw === undefined || record?.x === undefined || record.x <= now) return { status: 'absent' };
    if (record.c === presented) {
      if (next === undefined) return { status: 'current', data: record.d, current: record.c };
      const kept = record.p.filter(([, until]) => until > now);
      kept.push([presented, now + graceMs]);
      kept.splice(0, Math.max(0, kept.length - ROLLING_MAX_PREDECESSORS));
      const rolled: RollingRecord = { d: record.d, c: next, p: kept, x: record.x };
      // Of concurrent rolls of one member exactly one swaps; the others read again and see grace.
      if (await store.compareAndSet(key, raw, JSON.stringify(rolled), record.x - now)) {
        return { status: 'rolled', data: record.d, current: next };
      }
      continue;
    }
    if (record.p.some(([member, until]) => member === presented && until > now)) {
      return { status: 'grace', data: record.d, current: record.c };
    }
    if (await store.deleteIfEquals(key, raw)) return { status: 'reused', data: record.d };
  }
  throw new StoreError(`The store changed "${key}" under ${MAX_TRIES} tries in a row; giving up.`);
}

/** Adds a member to an expiring set; see `Store.addMember`. */
export async function addMember(store: Store, key: string, member: string, ttlMs: number): Promise<void> {
  assertKey(key);
  assertMember(member);
  assertTtl(ttlMs);
  if (store.addMember) return store.addMember(key, member, ttlMs);
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const raw = await store.get(key);
    const now = Date.now();
    // A value that is not a member set is replaced (compare-and-set on it, so nothing is lost).
    const members = (raw === undefined ? undefined : parseMembers(raw)) ?? new Map<string, number>();
    for (const [name, until] of members) if (until <= now) members.delete(name);
    members.set(member, now + ttlMs);
    const lifetime = Math.max(...members.values()) - now;
    if (await store.compareAndSet(key, raw, JSON.stringify([...members]), lifetime)) return;
  }
  throw new StoreError(`The store changed "${key}" under ${MAX_TRIES} tries in a row; giving up.`);
}

/** Takes an expiring set's live members, deleting the set; see `Store.takeMembers`. */
export async function takeMembers(store: Store, key: string): Promise<string[]> {
  assertKey(key);
  if (store.takeMembers) {
    const members = await store.takeMembers(key);
    if (!Array.isArray(members) || !members.every((m) => typeof m === 'string')) {
      throw new StoreError('The store answered a member list with something else.');
    }
    return members;
  }
  const raw = await store.take(key);
  const now = Date.now();
  const members = raw === undefined ? undefined : parseMembers(raw);
  return [...(members ?? [])].filter(([, until]) => until > now).map(([name]) => name);
}

/** One attempt at a one-time code; see `Store.redeemCode`. */
export async function redeemCode(store: Store, request: CodeRedemption): Promise<CodeRedemptionResult> {
  assertRedemption(request);
  if (store.redeemCode) return checkedRedemption(await store.redeemCode(request));
  const { key, attemptsKey, userAttemptsKey, maxAttempts, maxUserAttempts, windowMs } = request;
  // The attempt is counted and the code read in one round trip: the read changes nothing, and
  // single use rests on the compare-and-delete below, not on this order.
  const [counted, raw] = await Promise.all([consumeChecked(store, attemptsKey, 1, windowMs), store.get(key)]);
  if (counted.consumed > maxAttempts) return { status: 'locked', msBeforeNext: counted.msBeforeNext };
  // Only after the code allowed the attempt: a session already locked must not be able to spend
  // the owner's budget and so lock the owner's other sessions out.
  const user = await consumeChecked(store, userAttemptsKey, 1, windowMs);
  if (user.consumed > maxUserAttempts) return { status: 'locked', msBeforeNext: user.msBeforeNext };
  const record = raw === undefined ? undefined : parseCodeRecord(raw);
  if (raw === undefined || record === undefined) return { status: 'absent' };
  if (request.now >= record.expiresAt) {
    await store.deleteIfEquals(key, raw);
    return { status: 'expired' };
  }
  if (macsEqual(record.mac, request.mac)) {
    if (!(await store.deleteIfEquals(key, raw))) return { status: 'absent' };
    await Promise.all([store.delete(attemptsKey), store.delete(userAttemptsKey)]);
    return { status: 'redeemed' };
  }
  const left = maxAttempts - counted.consumed;
  const userLeft = maxUserAttempts - user.consumed;
  if (Math.min(left, userLeft) <= 0) {
    await store.deleteIfEquals(key, raw);
    return { status: 'locked', msBeforeNext: left <= userLeft ? counted.msBeforeNext : user.msBeforeNext };
  }
  return { status: 'wrong', remaining: Math.min(left, userLeft) };
}

/** `store.consume()` with its answer checked: a store answering nonsense is a fault, not a pass. */
export async function consumeChecked(
  store: Store,
  key: string,
  points: number,
  windowMs: number,
): Promise<ConsumeResult> {
  const result = await store.consume(key, points, windowMs);
  if (
    !Number.isSafeInteger(result?.consumed) ||
    typeof result.msBeforeNext !== 'number' ||
    !Number.isFinite(result.msBeforeNext)
  ) {
    throw new StoreError(`The store answered consume("${key}") with something else than a counter.`);
  }
  return result;
}

/** A rolling record, or `undefined` for a value that is not one (corrupt, or set by something else). */
export function parseRolling(raw: string): RollingRecord | undefined {
  const record = parseJson(raw) as Partial<RollingRecord> | undefined;
  if (
    record === null ||
    typeof record !== 'object' ||
    typeof record.d !== 'string' ||
    typeof record.c !== 'string' ||
    !Array.isArray(record.p) ||
    !record.p.every(isMemberUntil) ||
    (record.x !== undefined && !Number.isSafeInteger(record.x))
  ) {
    return undefined;
  }
  return record as RollingRecord;
}

/** A member set (`[[member, until], …]`), or `undefined` for a value that is not one. */
export function parseMembers(raw: string): Map<string, number> | undefined {
  const pairs = parseJson(raw);
  if (!Array.isArray(pairs) || !pairs.every(isMemberUntil)) return undefined;
  return new Map(pairs as Array<[string, number]>);
}

const MAC_CHARS = 43; // base64url of a 32-byte MAC
const MAC_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The pending one-time code format: `<expiry in ms, base 36>.<base64url MAC>`. */
export function formatCodeRecord(expiresAt: number, mac: string): string {
  // Joined, not concatenated: a flat string, not a rope of its pieces, while it waits in memory.
  return [expiresAt.toString(36), mac].join('.');
}

/** A pending one-time code, or `undefined` for a value that is not one (an older format included). */
export function parseCodeRecord(raw: string): { expiresAt: number; mac: string } | undefined {
  const dot = raw.indexOf('.');
  if (dot < 1 || raw.length !== dot + 1 + MAC_CHARS) return undefined;
  const expiry = raw.slice(0, dot);
  const mac = raw.slice(dot + 1);
  if (!/^[0-9a-z]+$/.test(expiry) || !MAC_SHAPE.test(mac)) return undefined;
  const expiresAt = Number.parseInt(expiry, 36);
  return Number.isSafeInteger(expiresAt) ? { expiresAt, mac } : undefined;
}

/** Constant-time comparison of two base64url MACs of equal length. */
export function macsEqual(left: string, right: string): boolean {
  const a = Buffer.from(left, 'base64url');
  const b = Buffer.from(right, 'base64url');
  return a.length === 32 && b.length === 32 && timingSafeEqual(a, b);
}

const ROLL_STATUSES: ReadonlySet<unknown> = new Set(['rolled', 'current', 'grace', 'reused', 'absent']);
const REDEMPTION_STATUSES: ReadonlySet<unknown> = new Set([
  'redeemed',
  'wrong',
  'locked',
  'expired',
  'absent',
]);

function checkedRoll(result: RollResult): RollResult {
  if (!ROLL_STATUSES.has(result?.status))
    throw new StoreError('The store answered a roll with an unknown status.');
  return result;
}

function checkedRedemption(result: CodeRedemptionResult): CodeRedemptionResult {
  if (!REDEMPTION_STATUSES.has(result?.status)) {
    throw new StoreError('The store answered a code redemption with an unknown status.');
  }
  return result;
}

function isMemberUntil(pair: unknown): boolean {
  return Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && Number.isFinite(pair[1]);
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** A store fault is a `StoreError` (503, fail closed), whatever the store threw. */
export async function faultsAsStoreErrors<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof PassportFactorsError) throw err;
    throw new StoreError('The store failed.', { cause: err });
  }
}
