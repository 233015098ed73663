// B-MEM: heap bytes per pending one-time code in the memory store, for 100,000 codes.
// Run by bench/run.js with node --expose-gc; prints one JSON line.
import { randomBytes } from 'node:crypto';
import { OneTimeCodes } from 'passport-factors/sms-otp';
import { MemoryStore } from 'passport-factors/stores';

const n = Number(process.env.BENCH_MEM_CODES ?? 100_000);
if (typeof global.gc !== 'function') throw new Error('Run with node --expose-gc.');
const settle = () => {
  for (let i = 0; i < 3; i++) global.gc();
  return process.memoryUsage().heapUsed;
};

// Room for exactly the codes: the store's default cap is 100,000 entries.
const store = new MemoryStore({ maxEntries: Math.max(n, 100_000) });
const codes = new OneTimeCodes({ secret: randomBytes(32), store, namespace: 'sms-otp' });
// Warm the code paths first, so JIT and module state are not counted as codes.
for (let i = 0; i < 1000; i++) await codes.issue(`warm-${i}`, 'warm');
for (let i = 0; i < 1000; i++) await codes.cancel(`warm-${i}`, 'warm');
const before = settle();
// Realistic subjects and bindings: user ids and the random per-session binding ids.
for (let i = 0; i < n; i++) await codes.issue(`user-${i}`, randomBytes(16).toString('base64url'));
const after = settle();
if (store.size < n) throw new Error(`only ${store.size} of ${n} codes are pending`);
console.log(
  JSON.stringify({
    codes: n,
    pending: store.size,
    heapDelta: after - before,
    bytesPerCode: (after - before) / n,
  }),
);
await store.close();
