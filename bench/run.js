// `npm run bench`: every benchmark of BENCHMARKS.md, ours against its baseline in the same process
// run, alternating, each figure the median of BENCH_ROUNDS rounds (default 5). Prints one table
// and appends one JSON line per benchmark to bench/results/latest.jsonl.
//
//   BENCH_ROUNDS   rounds per benchmark (default 5)
//   BENCH_SECONDS  seconds per autocannon side and round (default 3)
//   BENCH_ONLY     comma-separated ids to run (e.g. B-XTOK,B-OTP)
//   REDIS_URL      Redis for B-OTP (default redis://127.0.0.1:6379)
import { execFileSync, fork } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import {
  CompactEncrypt,
  compactDecrypt,
  createLocalJWKSet,
  exportJWK,
  importJWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { IdTokenVerifier, SecSignClient } from 'passport-factors';
import { Bench } from 'tinybench';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const RESULTS = fileURLToPath(new URL('./results/latest.jsonl', import.meta.url));
const here = (path) => fileURLToPath(new URL(path, import.meta.url));

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const rows = [];
/** A promise with its resolve and reject (Promise.withResolvers is Node 22+). */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
const runAt = new Date().toISOString();
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;

/** Records one benchmark row: our figure, the baseline's, the ratio of the per-round ratios. */
function record(row) {
  rows.push(row);
  mkdirSync(here('./results/'), { recursive: true });
  appendFileSync(RESULTS, `${JSON.stringify({ at: runAt, commit, machine, rounds: ROUNDS, ...row })}\n`);
  const ratio = row.ratio === undefined ? '' : ` ratio ${row.ratio.toFixed(2)}`;
  console.error(`  ${row.id} ${row.against ?? ''}: ours ${fmt(row.ours)} ${row.unit}${ratio}`);
}
const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2));
const wanted = (id) => !ONLY || ONLY.has(id);

// --- B-IDT: id_token check, nested JWE(ECDH-ES+A256KW, A256CBC-HS512) + JWS(ES256) ---------------
async function benchIdToken() {
  const issuer = 'https://xign.example.test';
  const clientId = 'rp-bench';
  const nonce = randomBytes(16).toString('base64url');
  const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const encryption = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwks = createLocalJWKSet({
    keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'sig', alg: 'ES256', use: 'sig' }],
  });
  const jws = await new SignJWT({ nonce })
    .setProtectedHeader({ alg: 'ES256', kid: 'sig' })
    .setIssuer(issuer)
    .setAudience(clientId)
    .setSubject('xign-7f3a1c')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(signing.privateKey);
  const token = await new CompactEncrypt(new TextEncoder().encode(jws))
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512', cty: 'JWT', kid: 'enc' })
    .encrypt(encryption.publicKey);
  const verifier = new IdTokenVerifier({
    issuer,
    clientId,
    jwks,
    encryption: { alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512' },
    decryptionKeys: [{ kid: 'enc', key: encryption.privateKey }],
  });
  const ours = () => verifier.verify(token, { nonce });
  // The floor: what any correct verifier must do, with the same keys and token, the decryption
  // key imported once (given a KeyObject, jose would import it again on every call).
  const floorKey = await importJWK(encryption.privateKey.export({ format: 'jwk' }), 'ECDH-ES+A256KW');
  const raw = async () => {
    const { plaintext } = await compactDecrypt(token, floorKey, {
      keyManagementAlgorithms: ['ECDH-ES+A256KW'],
      contentEncryptionAlgorithms: ['A256CBC-HS512'],
    });
    const { payload } = await jwtVerify(new TextDecoder().decode(plaintext), jwks, {
      issuer,
      audience: clientId,
      algorithms: ['ES256'],
    });
    if (payload.nonce !== nonce) throw new Error('nonce');
  };
  await ours();
  await raw();
  const oursHz = [];
  const rawHz = [];
  const ratios = [];
  // In process and cheap: many short alternating windows, so the machine's drift hits both sides.
  const rounds = Math.max(ROUNDS * 3, 15);
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: 500, warmupTime: 100 });
    // Alternate which side runs first, so neither always gets the warmer machine.
    if (round % 2) bench.add('raw', raw).add('ours', ours);
    else bench.add('ours', ours).add('raw', raw);
    await bench.run();
    // Operations per second over the whole window (the mean of per-call rates would overweight
    // the fast calls).
    const hz = (name) => 1000 / bench.tasks.find((t) => t.name === name).result.latency.mean;
    oursHz.push(hz('ours'));
    rawHz.push(hz('raw'));
    ratios.push(hz('ours') / hz('raw'));
  }
  record({
    id: 'B-IDT',
    side: 'IdTokenVerifier',
    what: 'id_token check: nested JWE(ECDH-ES+A256KW, A256CBC-HS512) + JWS(ES256)',
    against: 'raw jose compactDecrypt + jwtVerify',
    unit: 'ops/s',
    ours: median(oursHz),
    baseline: median(rawHz),
    ratio: median(ratios),
    goal: '≥ 0.95',
    met: median(ratios) >= 0.95,
  });
}

// --- The HTTP benchmarks: servers in a child process, autocannon here --------------------------
let servers;
let ready;
let nextId = 0;
const pending = new Map();
async function startServers() {
  servers = fork(here('./servers.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  servers.on('message', (message) => {
    if (message.cmd === 'ready') return ready.resolve(message);
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  });
  ready = deferred();
  servers.once('exit', (code) => ready.reject(new Error(`bench servers exited (${code})`)));
  return ready.promise;
}
function prepare(kind, n) {
  const id = nextId++;
  const waiter = deferred();
  pending.set(id, waiter);
  servers.send({ cmd: 'prepare', id, kind, n });
  return waiter.promise;
}

/** autocannon for `seconds`, or for exactly `amount` requests; answers req/s and the non-2xx count. */
async function cannon(options) {
  const started = performance.now();
  let lastAnswer = started;
  let answers = 0;
  const instance = autocannon({ connections: 16, pipelining: 1, ...options });
  instance.on('response', () => {
    answers += 1;
    lastAnswer = performance.now();
  });
  const result = await instance;
  const completed = answers;
  // Timed to the last answer: autocannon notices the end on a once-a-second tick, which would
  // round a fixed number of requests up to whole seconds.
  const seconds = (lastAnswer - started) / 1000;
  return {
    rps: completed / seconds,
    non2xx: result.non2xx + result.errors + result.timeouts,
    total: completed,
  };
}

/**
 * Our side of B-XTOK as a real client drives it: every answer carries the next token, which the
 * next request sends (a used token is a predecessor after reuseGraceSec). 32 chains for 16
 * connections, each chain used by one request at a time, so every request takes the rotation path.
 */
async function rollingXTokenSide(url) {
  const idle = await prepare('xtoken', 32);
  return {
    url,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-token': idle.shift() } }),
        onResponse: (status, _body, _context, headers) => {
          const renewed = Object.entries(headers ?? {}).find(
            ([name]) => name.toLowerCase() === 'x-token',
          )?.[1];
          if (status === 200 && renewed) idle.push(renewed);
        },
      },
    ],
  };
}

async function benchXToken(info) {
  const { urls, tokens } = info;
  const sides = {
    ours: () => rollingXTokenSide(`${urls.xtokenOurs}/api`),
    bare: async () => ({ url: `${urls.xtokenBare}/api`, headers: {} }),
    jwt: async () => ({ url: `${urls.xtokenJwt}/api`, headers: { authorization: `Bearer ${tokens.jwt}` } }),
  };
  const figures = { ours: [], bare: [], jwt: [] };
  const vsBare = [];
  const vsJwt = [];
  for (const side of Object.keys(sides)) await cannon({ ...(await sides[side]()), duration: 1 }); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? ['jwt', 'bare', 'ours'] : ['ours', 'bare', 'jwt'];
    const got = {};
    for (const side of order) {
      const run = await cannon({ ...(await sides[side]()), duration: SECONDS });
      if (run.non2xx > 0) throw new Error(`B-XTOK ${side}: ${run.non2xx} failed requests`);
      got[side] = run.rps;
      figures[side].push(run.rps);
    }
    vsBare.push(got.ours / got.bare);
    vsJwt.push(got.ours / got.jwt);
  }
  const what = 'authenticated request with a rolling X-Token (verify, family check, renewal)';
  record({
    id: 'B-XTOK',
    side: 'XTokenStrategy route',
    what,
    against: 'bare Express route',
    unit: 'req/s',
    ours: median(figures.ours),
    baseline: median(figures.bare),
    ratio: median(vsBare),
    goal: '≥ 0.9',
    met: median(vsBare) >= 0.9,
  });
  record({
    id: 'B-XTOK',
    side: 'XTokenStrategy route',
    what,
    against: 'passport-jwt route (HS256 Bearer)',
    unit: 'req/s',
    ours: median(figures.ours),
    baseline: median(figures.jwt),
    ratio: median(vsJwt),
    goal: '≥ 1.0',
    met: median(vsJwt) >= 1.0,
  });
}

/** A run over prepared single-use inputs: each request takes the next one. */
async function cannonOver(url, inputs, toRequest) {
  let next = 0;
  return cannon({
    url,
    amount: inputs.length,
    requests: [{ setupRequest: (req) => ({ ...req, ...toRequest(inputs[next++]) }) }],
  });
}

async function benchOtp(info) {
  const { urls } = info;
  const n = Number(process.env.BENCH_OTP_REQUESTS ?? 4000);
  const verify = (input) => ({
    method: 'POST',
    path: '/verify',
    headers: { 'content-type': 'application/json', 'x-user': input.user, 'x-session': input.session },
    body: JSON.stringify({ code: input.code }),
  });
  for (const store of ['memory', 'redis']) {
    const ours = [];
    const base = [];
    const ratios = [];
    await cannonOver(
      store === 'memory' ? urls.otpMemory : urls.otpRedis,
      await prepare(`otp-${store}`, 500),
      verify,
    );
    await cannonOver(urls.otpGetDel, await prepare('otp-getdel', 500), verify);
    for (let round = 0; round < ROUNDS; round++) {
      const oursInputs = await prepare(`otp-${store}`, n);
      const baseInputs = await prepare('otp-getdel', n);
      const runOurs = () =>
        cannonOver(store === 'memory' ? urls.otpMemory : urls.otpRedis, oursInputs, verify);
      const runBase = () => cannonOver(urls.otpGetDel, baseInputs, verify);
      const [a, b] =
        round % 2 ? [await runBase(), await runOurs()].reverse() : [await runOurs(), await runBase()];
      if (a.non2xx > 0 || b.non2xx > 0) throw new Error(`B-OTP ${store}: ${a.non2xx} + ${b.non2xx} failed`);
      ours.push(a.rps);
      base.push(b.rps);
      ratios.push(a.rps / b.rps);
    }
    record({
      id: 'B-OTP',
      side: `SmsOtpStrategy verify (${store === 'memory' ? 'MemoryStore' : 'RedisStore'})`,
      what: `code verification, each request redeeming a fresh code (${store === 'memory' ? 'MemoryStore' : 'RedisStore'})`,
      against: 'bare Express route doing one Redis GETDEL',
      unit: 'req/s',
      ours: median(ours),
      baseline: median(base),
      ratio: median(ratios),
      goal: '≥ 0.7',
      met: median(ratios) >= 0.7,
    });
  }
}

async function benchOidc(info) {
  const { urls } = info;
  const n = Number(process.env.BENCH_OIDC_REQUESTS ?? 800);
  const callback = (input) => ({ method: 'GET', path: input.path, headers: { cookie: input.cookie } });
  await cannonOver(urls.oidcOurs, await prepare('oidc-ours', 200), callback);
  await cannonOver(urls.oidcBase, await prepare('oidc-base', 200), callback);
  const ours = [];
  const base = [];
  const ratios = [];
  for (let round = 0; round < ROUNDS; round++) {
    const oursInputs = await prepare('oidc-ours', n);
    const baseInputs = await prepare('oidc-base', n);
    const runOurs = () => cannonOver(urls.oidcOurs, oursInputs, callback);
    const runBase = () => cannonOver(urls.oidcBase, baseInputs, callback);
    const [a, b] =
      round % 2 ? [await runBase(), await runOurs()].reverse() : [await runOurs(), await runBase()];
    if (a.non2xx > 0 || b.non2xx > 0) throw new Error(`B-OIDC: ${a.non2xx} + ${b.non2xx} failed callbacks`);
    ours.push(a.rps);
    base.push(b.rps);
    ratios.push(a.rps / b.rps);
  }
  record({
    id: 'B-OIDC',
    side: 'XignInStrategy callback',
    what: 'full callback: code → token endpoint on the loopback sandbox → decrypt → verify → user',
    against: "openid-client v6's passport Strategy (non-repudiation checks and decryption on)",
    unit: 'req/s',
    ours: median(ours),
    baseline: median(base),
    ratio: median(ratios),
    goal: '≥ 1.1',
    met: median(ratios) >= 1.1,
  });
}

// --- B-POLL: SecSign status polls against the loopback sandbox ----------------------------------
async function benchPoll(info) {
  const primary = new URL(info.sandbox.secsignServers[0]);
  // A TCP relay in front of the sandbox counts the connections the client opens.
  let opened = 0;
  const relay = createServer((socket) => {
    opened += 1;
    const upstream = connect(Number(primary.port), primary.hostname);
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const client = new SecSignClient({
    serverUrls: [`http://127.0.0.1:${relay.address().port}${primary.pathname}`],
  });
  const session = await client.requestAuthSession({
    secsignId: 'alice',
    serviceName: 'bench',
    serviceAddress: 'https://bench.example',
  });
  // One browser polls one request at a time, as the status route is used.
  const polls = 1000;
  const concurrency = 1;
  const cpu = [];
  const sockets = [];
  for (let round = 0; round < ROUNDS; round++) {
    opened = 0;
    await client.close().catch(() => undefined);
    const fresh = new SecSignClient({
      serverUrls: [`http://127.0.0.1:${relay.address().port}${primary.pathname}`],
    });
    const start = process.cpuUsage();
    let left = polls;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) await fresh.getAuthSessionState(session);
      }),
    );
    const used = process.cpuUsage(start);
    cpu.push((used.user + used.system) / polls);
    sockets.push(opened);
    await fresh.close();
  }
  relay.close();
  record({
    id: 'B-POLL',
    side: 'SecSignClient',
    what: `SecSign status poll against the loopback sandbox (${polls} polls, one at a time)`,
    unit: 'CPU µs/poll',
    ours: median(cpu),
    sockets: Math.max(...sockets),
    goal: '≤ 4 sockets for 1,000 polls',
    met: Math.max(...sockets) <= 4,
  });
}

// --- B-MEM: bytes per pending code, in a fresh process --------------------------------------------
function benchMemory() {
  const perRound = [];
  for (let round = 0; round < Math.min(ROUNDS, 3); round++) {
    const out = execFileSync(process.execPath, ['--expose-gc', here('./mem.js')], { encoding: 'utf8' });
    perRound.push(JSON.parse(out.trim().split('\n').at(-1)).bytesPerCode);
  }
  record({
    id: 'B-MEM',
    side: 'MemoryStore + OneTimeCodes',
    what: '100,000 pending one-time codes in the memory store',
    unit: 'bytes/code',
    ours: median(perRound),
    goal: '≤ 400 B',
    met: median(perRound) <= 400,
  });
}

console.error(`bench: ${ROUNDS} rounds, ${SECONDS} s per HTTP side, on ${machine}`);
if (wanted('B-IDT')) await benchIdToken();
if (wanted('B-MEM')) benchMemory();
const needsServers = ['B-OIDC', 'B-XTOK', 'B-OTP', 'B-POLL'].some(wanted);
if (needsServers) {
  const info = await startServers();
  try {
    if (wanted('B-XTOK')) await benchXToken(info);
    if (wanted('B-OTP')) await benchOtp(info);
    if (wanted('B-OIDC')) await benchOidc(info);
    if (wanted('B-POLL')) await benchPoll(info);
  } finally {
    servers.send({ cmd: 'stop' });
  }
}

const table = [
  '| id | ours | against | ours | baseline | ratio | goal | met |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.id} | ${r.side} | ${r.against ?? '—'} | ${fmt(r.ours)} ${r.unit}${r.sockets !== undefined ? `, ${r.sockets} sockets` : ''} | ${
        r.baseline === undefined ? '—' : `${fmt(r.baseline)} ${r.unit}`
      } | ${r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`} | ${r.goal} | ${r.met ? 'yes' : 'no'} |`,
  ),
];
console.log(`\nbench ${runAt} at ${commit} on ${machine}, ${ROUNDS} rounds (medians)\n`);
console.log(table.join('\n'));
console.log(`\nappended to bench/results/latest.jsonl`);
process.exit(0);
