import { setImmediate as tick } from 'node:timers/promises';
import type { ConsumeResult, Store } from '../../src/exports/stores.js';

/**
 * A custom store in one file, as a user would write one: the required primitives only, over a
 * plain Map. Rolling records, member sets and one-time code redemption are built by the library
 * on these primitives. Every call yields once before it acts (as a network store would), so
 * concurrent callers really interleave between calls, while each call stays atomic on its own.
 */
export class MapStore implements Store {
  readonly #entries = new Map<string, { value: string; expiresAt: number }>();

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await tick(check(key, ttlMs));
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }

  async get(key: string): Promise<string | undefined> {
    await tick(check(key));
    return this.#live(key)?.value;
  }

  async take(key: string): Promise<string | undefined> {
    await tick(check(key));
    const value = this.#live(key)?.value;
    this.#entries.delete(key);
    return value;
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    await tick(check(key));
    if (this.#live(key)?.value !== expected) return false;
    return this.#entries.delete(key);
  }

  async compareAndSet(
    key: string,
    expected: string | undefined,
    value: string,
    ttlMs: number,
  ): Promise<boolean> {
    await tick(check(key, ttlMs));
    if (this.#live(key)?.value !== expected) return false;
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
    return true;
  }

  async delete(key: string): Promise<void> {
    await tick(check(key));
    this.#entries.delete(key);
  }

  async increment(key: string, ttlMs: number): Promise<number> {
    return (await this.consume(key, 1, ttlMs)).consumed;
  }

  async consume(key: string, points: number, windowMs: number): Promise<ConsumeResult> {
    await tick(check(key, windowMs));
    const entry = this.#live(key);
    if (entry === undefined && points === 0) return { consumed: 0, msBeforeNext: 0 };
    const counter = entry ?? { value: '0', expiresAt: Date.now() + windowMs };
    counter.value = String(Number(counter.value) + points);
    this.#entries.set(key, counter);
    return { consumed: Number(counter.value), msBeforeNext: counter.expiresAt - Date.now() };
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  #live(key: string): { value: string; expiresAt: number } | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.expiresAt > Date.now()) return entry;
    this.#entries.delete(key);
    return undefined;
  }
}

function check(key: string, ttlMs = 1): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('A store key must be a non-empty string.');
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)
    throw new TypeError('A TTL must be a positive whole number.');
}
