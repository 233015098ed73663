import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `bytes` random bytes from the CSPRNG, base64url-encoded. Draws from a pool refilled with
 * `randomFillSync` 4 KiB at a time, as Node's own `randomUUID()` caches its entropy: one
 * `randomBytes()` call per token cost more than the token's HMAC. Every byte is handed out once
 * and the pool lives only in this process.
 */
export function randomBase64url(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 256) {
    throw new RangeError('randomBase64url: bytes must be a whole number from 1 to 256.');
  }
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const value = pool.toString('base64url', offset, offset + bytes);
  // Handed out bytes are zeroed, so nothing drawn stays readable in the pool.
  pool.fill(0, offset, offset + bytes);
  offset += bytes;
  return value;
}
