// `npm run soak`: mixed traffic at the example app on the sandbox for SOAK_SECONDS (default 60),
// driven by autocannon: X-Token API calls, SMS send and verify, SecSign start/status/cancel,
// XignIn callbacks. Prints requests served, answers by kind, p50/p99 latency, and heap and RSS
// after a forced GC at the start, in the middle and at the end. Exits 1 when the heap keeps
// growing (the end is more than SOAK_HEAP_SLACK_MB, default 4, above the post-warm-up figure)
// or when any answer is a 5xx or a socket error.
//
// Run it with `npm run soak` (node --expose-gc). SOAK_SECONDS=10 is what CI runs. Also:
// SOAK_CONNECTIONS (default 16), SOAK_HEAP_SLACK_MB (default 4).
import { once } from 'node:events';
import { createServer } from 'node:http';
import autocannon from 'autocannon';
import { MemoryStore } from 'passport-factors/stores';
import { startSandbox } from 'passport-factors/sandbox';
import { createExampleApp } from '../example-app/app.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 60);
const connections = Number(process.env.SOAK_CONNECTIONS ?? 16);
const slackMb = Number(process.env.SOAK_HEAP_SLACK_MB ?? 4);
// A third of the traffic starts XignIn logins, whose transactions live 10 minutes by design: the
// soak shortens that to 5 s and sweeps expired entries every second, so that live state turns over
// within the run and a heap that still grows after the warm-up is a leak.
const TRANSACTION_TTL_SEC = 5;
if (!Number.isFinite(seconds) || seconds < 2) throw new Error('SOAK_SECONDS must be a number ≥ 2.');
if (typeof global.gc !== 'function') throw new Error('Run with node --expose-gc (npm run soak does).');

const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
function memory() {
  global.gc();
  global.gc();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

const sandbox = await startSandbox();
const server = createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const baseUrl = `http://127.0.0.1:${server.address().port}`;
// A cheap scrypt cost: the soak is about the strategies, not about password hashing.
const store = new MemoryStore({ sweepIntervalMs: 1000 });
const app = await createExampleApp({
  sandbox,
  publicUrl: baseUrl,
  scryptCost: 2 ** 12,
  store,
  xigninTransactionTtlSec: TRANSACTION_TTL_SEC,
});
server.on('request', app);

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ALICE = basic('alice', 'correct horse battery staple');
const BOB = basic('bob', 'pa:ss with a colon');

/** Logs in once per simulated user: a session cookie (password step done) and an X-Token. */
async function session(authorization) {
  const login = await fetch(`${baseUrl}/sms/login`, { method: 'POST', headers: { authorization } });
  if (login.status !== 200) throw new Error(`password login answered ${login.status}`);
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const api = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', headers: { authorization } });
  if (api.status !== 200) throw new Error(`X-Token login answered ${api.status}`);
  return { cookie, xToken: api.headers.get('x-token') };
}
const sessions = [await session(ALICE), await session(BOB)];

const json = { 'content-type': 'application/json' };
/** One visit's mix; autocannon cycles through it on every connection. */
const xTokenAnswers = {};
function requestsFor({ cookie, xToken }) {
  // One client's rolling token, shared by every connection as a page's parallel calls share it.
  // Requests are numbered: only the answer to a request sent after the one that gave the held
  // token replaces it (an overtaken answer carries a token replaced since, which would revoke the
  // family once its reuse grace is over). A 401 (e.g. a family revoked between runs, when
  // autocannon dropped answers in flight) logs in again, as a client would.
  let token = xToken;
  let sent = 0;
  let tokenFrom = 0;
  let relogin;
  return [
    {
      method: 'GET',
      path: '/api/secret',
      setupRequest: (req, context) => {
        context.number = ++sent;
        return { ...req, headers: { ...req.headers, 'x-token': token } };
      },
      onResponse: (status, _body, context, headers) => {
        xTokenAnswers[status] = (xTokenAnswers[status] ?? 0) + 1;
        // autocannon keeps the header names as sent (`X-Token`): look them up without case.
        const renewed = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'x-token')?.[1];
        if (status === 200 && renewed && context.number > tokenFrom) {
          token = renewed;
          tokenFrom = context.number;
        }
        if (status === 401 && !relogin) {
          const from = sent;
          relogin = fetch(`${baseUrl}/api/auth/login`, { method: 'POST', headers: { authorization: ALICE } })
            .then((answer) => {
              if (answer.status === 200) {
                token = answer.headers.get('x-token');
                tokenFrom = from;
              }
            })
            .finally(() => (relogin = undefined));
        }
      },
    },
    { method: 'GET', path: '/api/secret', headers: { 'x-token': 'not-a-token' } },
    { method: 'POST', path: '/sms/send', headers: { cookie, ...json }, body: '{}' },
    { method: 'POST', path: '/sms/verify', headers: { cookie, ...json }, body: '{"code":"000000"}' },
    { method: 'POST', path: '/secsign/start', headers: { cookie, ...json }, body: '{"secsignid":"alice"}' },
    { method: 'GET', path: '/secsign/status', headers: { cookie } },
    { method: 'POST', path: '/secsign/cancel', headers: { cookie, ...json }, body: '{}' },
    { method: 'GET', path: '/xignin/callback?code=soak-code&state=soak-state', headers: { cookie } },
    { method: 'GET', path: '/xignin/login', headers: { cookie } },
  ];
}

function run(duration) {
  const byStatus = new Map();
  const instance = autocannon({
    url: baseUrl,
    connections,
    duration,
    requests: requestsFor(sessions[0]),
  });
  instance.on('response', (_client, status) => byStatus.set(status, (byStatus.get(status) ?? 0) + 1));
  return new Promise((resolve, reject) =>
    instance.once('done', (result) => resolve({ result, byStatus })).once('error', reject),
  );
}

// Warm up (JIT, pools, limiter keys), then measure from a settled heap.
// At least the transaction lifetime plus a sweep, so the store is at its steady size before measuring.
await run(Math.min(15, Math.max(TRANSACTION_TTL_SEC + 2, Math.floor(seconds / 4))));
const start = memory();
const half = Math.max(1, Math.floor(seconds / 2));
const first = await run(half);
const middle = memory();
const second = await run(Math.max(1, seconds - half));
const end = memory();

const statuses = new Map(first.byStatus);
for (const [status, count] of second.byStatus) statuses.set(status, (statuses.get(status) ?? 0) + count);
const served = first.result.requests.total + second.result.requests.total;
const errors = first.result.errors + second.result.errors + first.result.timeouts + second.result.timeouts;
const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((sum, [, n]) => sum + n, 0);
const p = (result, q) => result.latency[q];
const summary = {
  seconds,
  connections,
  requests: served,
  requestsPerSecond: Math.round(served / seconds),
  answersByStatus: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
  // The rolling X-Token calls alone (warm-up included): 401s here mean a family was lost.
  xTokenAnswers,
  socketErrorsAndTimeouts: errors,
  latencyMs: {
    p50: Math.max(p(first.result, 'p50'), p(second.result, 'p50')),
    p99: Math.max(p(first.result, 'p99'), p(second.result, 'p99')),
  },
  storeEntries: store.size,
  heapMb: { start: mb(start.heapUsed), middle: mb(middle.heapUsed), end: mb(end.heapUsed) },
  rssMb: { start: mb(start.rss), middle: mb(middle.rss), end: mb(end.rss) },
};

console.log(
  `soak: ${seconds} s, ${connections} connections, mixed traffic at the example app on the sandbox (XignIn transactions live ${TRANSACTION_TTL_SEC} s)`,
);
console.log(`  requests served      ${served} (${summary.requestsPerSecond}/s)`);
console.log(`  answers by status    ${JSON.stringify(summary.answersByStatus)}`);
console.log(`  5xx                  ${fiveXx}`);
console.log(`  socket errors/timeouts ${errors}`);
console.log(`  latency p50 / p99    ${summary.latencyMs.p50} ms / ${summary.latencyMs.p99} ms`);
console.log(`  store entries at end ${store.size}`);
console.log(
  `  heap after GC        ${summary.heapMb.start} → ${summary.heapMb.middle} → ${summary.heapMb.end} MB`,
);
console.log(
  `  RSS                  ${summary.rssMb.start} → ${summary.rssMb.middle} → ${summary.rssMb.end} MB`,
);
console.log(JSON.stringify({ soak: summary }));

server.closeAllConnections();
server.close();
await sandbox.close();

const grew = mb(end.heapUsed - start.heapUsed);
const failures = [];
if (fiveXx > 0) failures.push(`${fiveXx} answers were 5xx`);
if (errors > 0) failures.push(`${errors} socket errors or timeouts`);
if (grew > slackMb) failures.push(`the heap grew by ${grew} MB (more than ${slackMb} MB)`);
if (served === 0) failures.push('no request was served');
if (failures.length > 0) {
  console.error(`soak FAILED: ${failures.join('; ')}`);
  process.exit(1);
}
console.log(`soak passed: no 5xx, no socket errors, heap grew ${grew} MB (limit ${slackMb} MB)`);
// The app's stores and pools are process-lifetime; the soak is done.
process.exit(0);
