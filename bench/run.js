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
import { SecSignClient } from 'passport-factors/secsign';
import { IdTokenVerifier } from 'passport-factors/xignin';
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
  const { md: _md, ...line } = row;
  appendFileSync(RESULTS, `${JSON.stringify({ at: runAt, commit, machine, rounds: ROUNDS, ...line })}\n`);
  const ratio = row.ratio === undefined ? '' : ` ratio ${row.ratio.toFixed(2)}`;
  const latency =
    row.p50Ms === undefined
      ? ''
      : `, p50/p99 ${ms(row.p50Ms)}/${ms(row.p99Ms)} ms vs ${ms(row.baselineP50Ms)}/${ms(row.baselineP99Ms)} ms, CPU ${fmt(row.cpuUsPerReq)} vs ${fmt(row.baselineCpuUsPerReq)} µs/req`;
  console.error(`  ${row.id} ${row.against ?? ''}: ours ${fmt(row.ours)} ${row.unit}${ratio}${latency}`);
}
const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(n >= 10 ? 1 : 2));
const ms = (n) => n.toFixed(n >= 10 ? 1 : 2);
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
    md: { side: '`IdTokenVerifier`', against: 'raw `jose` `compactDecrypt` + `jwtVerify`', unit: 'checks/s' },
    what: 'id_token check: nested JWE(ECDH-ES+A256KW, A256CBC-HS512) + JWS(ES256)',
    against: 'raw jose compactDecrypt + jwtVerify',
    unit: 'ops/s',
    ours: median(oursHz),
    baseline: median(rawHz),
    ratio: median(ratios),
    goal: '≥ 0.95×',
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

/** The servers' process CPU time (user + system), in µs. */
async function serverCpu() {
  return prepare('cpu', 0);
}

/** The `q`-quantile (0..1) of sorted values, nearest rank. */
function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * autocannon for `seconds`, or for exactly `amount` requests. Answers req/s, the non-2xx count,
 * the p50 and p99 latency of the answers (ms, from autocannon's per-request timings) and the
 * servers' CPU time per request (µs: the servers' process CPU time over the run / answers; only
 * the side under load runs, so the process's time is that side's).
 */
async function cannon(options) {
  const cpuBefore = await serverCpu();
  const started = performance.now();
  let lastAnswer = started;
  let answers = 0;
  const latencies = [];
  const instance = autocannon({ connections: 16, pipelining: 1, ...options });
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    answers += 1;
    latencies.push(responseTime);
    lastAnswer = performance.now();
  });
  const result = await instance;
  const cpuAfter = await serverCpu();
  const completed = answers;
  // Timed to the last answer: autocannon notices the end on a once-a-second tick, which would
  // round a fixed number of requests up to whole seconds.
  const seconds = (lastAnswer - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rps: completed / seconds,
    non2xx: result.non2xx + result.errors + result.timeouts,
    total: completed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuUs: (cpuAfter - cpuBefore) / completed,
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

/** Per side: the rounds' req/s, p50, p99 and CPU µs/request; `summary()` gives their medians. */
function sideFigures() {
  const runs = [];
  return {
    add(run) {
      runs.push(run);
    },
    get rps() {
      return runs.map((run) => run.rps);
    },
    summary() {
      const of = (key) => median(runs.map((run) => run[key]));
      return { rps: of('rps'), p50: of('p50'), p99: of('p99'), cpuUs: of('cpuUs') };
    },
  };
}

/** The latency and CPU fields of a row, ours and the baseline's. */
function detail(ours, baseline) {
  const o = ours.summary();
  const b = baseline.summary();
  return {
    p50Ms: o.p50,
    p99Ms: o.p99,
    cpuUsPerReq: o.cpuUs,
    baselineP50Ms: b.p50,
    baselineP99Ms: b.p99,
    baselineCpuUsPerReq: b.cpuUs,
  };
}

async function benchXToken(info) {
  const { urls, tokens } = info;
  // Every side builds each request in autocannon's setupRequest, as the rolling side must: a
  // static request is a prebuilt buffer, and on a 2-core machine the client's extra work per
  // request would otherwise be taken from our side's server only. The bare route gets the same
  // X-Token header (and ignores it).
  const perRequest = (url, headers) => ({
    url,
    requests: [
      { method: 'GET', setupRequest: (req) => ({ ...req, headers: { ...req.headers, ...headers } }) },
    ],
  });
  const sides = {
    ours: () => rollingXTokenSide(`${urls.xtokenOurs}/api`),
    bare: async () => perRequest(`${urls.xtokenBare}/api`, { 'x-token': tokens.xToken }),
    jwt: async () => perRequest(`${urls.xtokenJwt}/api`, { authorization: `Bearer ${tokens.jwt}` }),
    floor: async () => perRequest(`${urls.xtokenFloor}/api`, { 'x-token': tokens.xToken }),
  };
  const figures = { ours: sideFigures(), bare: sideFigures(), jwt: sideFigures(), floor: sideFigures() };
  const vsBare = [];
  const vsJwt = [];
  const floorVsBare = [];
  const vsFloor = [];
  for (const side of Object.keys(sides)) await cannon({ ...(await sides[side]()), duration: 1 }); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? ['floor', 'jwt', 'bare', 'ours'] : ['ours', 'bare', 'jwt', 'floor'];
    const got = {};
    for (const side of order) {
      const run = await cannon({ ...(await sides[side]()), duration: SECONDS });
      if (run.non2xx > 0) throw new Error(`B-XTOK ${side}: ${run.non2xx} failed requests`);
      got[side] = run.rps;
      figures[side].add(run);
    }
    vsBare.push(got.ours / got.bare);
    vsJwt.push(got.ours / got.jwt);
    floorVsBare.push(got.floor / got.bare);
    vsFloor.push(got.ours / got.floor);
  }
  const what = 'authenticated request with a rolling X-Token (verify, family check, renewal)';
  record({
    id: 'B-XTOK',
    side: 'XTokenStrategy route',
    md: { side: '`XTokenStrategy` route', against: 'bare Express route' },
    what,
    against: 'bare Express route',
    unit: 'req/s',
    ours: median(figures.ours.rps),
    baseline: median(figures.bare.rps),
    ratio: median(vsBare),
    ...detail(figures.ours, figures.bare),
    goal: '≥ 0.9×',
    met: median(vsBare) >= 0.9,
  });
  record({
    id: 'B-XTOK',
    side: 'XTokenStrategy route',
    md: { side: '`XTokenStrategy` route', against: '`passport-jwt` route (HS256 Bearer)' },
    what,
    against: 'passport-jwt route (HS256 Bearer)',
    unit: 'req/s',
    ours: median(figures.ours.rps),
    baseline: median(figures.jwt.rps),
    ratio: median(vsJwt),
    ...detail(figures.ours, figures.jwt),
    goal: '≥ 1.0×',
    met: median(vsJwt) >= 1.0,
  });
  // No goal: where any Passport strategy starts. Passport's middleware around a strategy that only
  // calls success() against the bare route, and our route against that floor.
  record({
    id: 'B-XTOK',
    side: 'Passport route, a strategy that only succeeds',
    md: { side: 'Passport route, a strategy that only calls `success()`', against: 'bare Express route' },
    what: 'the floor of any Passport strategy: passport.initialize() and authenticate() around a no-op strategy',
    against: 'bare Express route',
    unit: 'req/s',
    ours: median(figures.floor.rps),
    baseline: median(figures.bare.rps),
    ratio: median(floorVsBare),
    ...detail(figures.floor, figures.bare),
    goal: '—',
    met: null,
  });
  record({
    id: 'B-XTOK',
    side: 'XTokenStrategy route',
    md: { side: '`XTokenStrategy` route', against: 'Passport route, a strategy that only calls `success()`' },
    what,
    against: 'Passport route with a no-op strategy',
    unit: 'req/s',
    ours: median(figures.ours.rps),
    baseline: median(figures.floor.rps),
    ratio: median(vsFloor),
    ...detail(figures.ours, figures.floor),
    goal: '—',
    met: null,
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
  const floor = sideFigures();
  const floorRatios = [];
  for (const store of ['memory', 'redis']) {
    const ours = sideFigures();
    const base = sideFigures();
    const ratios = [];
    const vsFloor = [];
    await cannonOver(
      store === 'memory' ? urls.otpMemory : urls.otpRedis,
      await prepare(`otp-${store}`, 500),
      verify,
    );
    await cannonOver(urls.otpGetDel, await prepare('otp-getdel', 500), verify);
    await cannonOver(urls.otpGetDelFloor, await prepare('otp-getdel', 500), verify);
    for (let round = 0; round < ROUNDS; round++) {
      const inputs = {
        ours: await prepare(`otp-${store}`, n),
        base: await prepare('otp-getdel', n),
        floor: await prepare('otp-getdel', n),
      };
      const urlOf = {
        ours: store === 'memory' ? urls.otpMemory : urls.otpRedis,
        base: urls.otpGetDel,
        floor: urls.otpGetDelFloor,
      };
      const got = {};
      for (const side of round % 2 ? ['floor', 'base', 'ours'] : ['ours', 'base', 'floor']) {
        got[side] = await cannonOver(urlOf[side], inputs[side], verify);
        if (got[side].non2xx > 0) throw new Error(`B-OTP ${store} ${side}: ${got[side].non2xx} failed`);
      }
      ours.add(got.ours);
      base.add(got.base);
      floor.add(got.floor);
      ratios.push(got.ours.rps / got.base.rps);
      vsFloor.push(got.ours.rps / got.floor.rps);
      floorRatios.push(got.floor.rps / got.base.rps);
    }
    const storeName = store === 'memory' ? 'MemoryStore' : 'RedisStore';
    record({
      id: 'B-OTP',
      side: `SmsOtpStrategy verify (${storeName})`,
      md: { side: `\`sms-otp\` verify, \`${storeName}\``, against: 'bare Express route, one Redis `GETDEL`' },
      what: `code verification, each request redeeming a fresh code (${storeName})`,
      against: 'bare Express route doing one Redis GETDEL',
      unit: 'req/s',
      ours: median(ours.rps),
      baseline: median(base.rps),
      ratio: median(ratios),
      ...detail(ours, base),
      goal: '≥ 0.8×',
      met: median(ratios) >= 0.8,
    });
    record({
      id: 'B-OTP',
      side: `SmsOtpStrategy verify (${storeName})`,
      md: {
        side: `\`sms-otp\` verify, \`${storeName}\``,
        against: 'the same `GETDEL` in a Passport strategy',
      },
      what: `code verification (${storeName}) against the floor of a Passport strategy`,
      against: 'Passport route whose strategy does the one Redis GETDEL',
      unit: 'req/s',
      ours: median(ours.rps),
      baseline: median(floor.rps),
      ratio: median(vsFloor),
      ...detail(ours, floor),
      goal: '—',
      met: null,
    });
  }
  // No goal: what Passport's own middleware costs around the baseline's work.
  record({
    id: 'B-OTP',
    side: 'Passport route whose strategy does the one GETDEL',
    md: {
      side: 'the same `GETDEL` in a Passport strategy',
      against: 'bare Express route, one Redis `GETDEL`',
    },
    what: 'the floor of any Passport strategy: the baseline GETDEL behind passport.initialize() and authenticate()',
    against: 'bare Express route doing one Redis GETDEL',
    unit: 'req/s',
    ours: median(floor.rps),
    baseline: undefined,
    ratio: median(floorRatios),
    goal: '—',
    met: null,
  });
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
    md: {
      side: '`XignInStrategy` callback',
      against: '`openid-client` v6 passport `Strategy`, non-repudiation checks and decryption on',
    },
    what: 'full callback: code → token endpoint on the loopback sandbox → decrypt → verify → user',
    against: "openid-client v6's passport Strategy (non-repudiation checks and decryption on)",
    unit: 'req/s',
    ours: median(ours),
    baseline: median(base),
    ratio: median(ratios),
    goal: '≥ 1.1×',
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
    md: { side: `\`SecSignClient\`, ${polls.toLocaleString('en')} polls` },
    what: `SecSign status poll against the loopback sandbox (${polls} polls, one at a time)`,
    unit: 'CPU µs/poll',
    ours: median(cpu),
    sockets: Math.max(...sockets),
    goal: '≤ 4 sockets',
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
    md: { side: '100,000 pending codes, `MemoryStore`' },
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

// The table as docs/performance.md shows it: paste it there as is.
const cell = (r, value) => `${fmt(value)} ${r.md?.unit ?? r.unit}`;
const table = [
  '| id | ours | baseline | ours | baseline | ratio | goal | met | p50 / p99 ms, ours · baseline | CPU µs/request, ours · baseline |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows
    .map((r) =>
      [
        r.id,
        r.md?.side ?? r.side,
        r.md?.against ?? r.against ?? '—',
        `${cell(r, r.ours)}${r.sockets !== undefined ? `, ${r.sockets} sockets` : ''}`,
        r.baseline === undefined ? '—' : cell(r, r.baseline),
        r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`,
        r.goal,
        r.met === null ? '—' : r.met ? 'yes' : '**no**',
        r.p50Ms === undefined
          ? '—'
          : `${ms(r.p50Ms)} / ${ms(r.p99Ms)} · ${ms(r.baselineP50Ms)} / ${ms(r.baselineP99Ms)}`,
        r.cpuUsPerReq === undefined ? '—' : `${fmt(r.cpuUsPerReq)} · ${fmt(r.baselineCpuUsPerReq)}`,
      ].join(' | '),
    )
    .map((line) => `| ${line} |`),
];
console.log(`\nbench ${runAt} at ${commit} on ${machine}, ${ROUNDS} rounds (medians)\n`);
console.log(table.join('\n'));
console.log(`\nappended to bench/results/latest.jsonl`);
process.exit(0);
