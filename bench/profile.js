// `node bench/profile.js <sides> [seconds]`: where a B-XTOK or B-OTP request's server time goes.
// <sides> is one side or several, comma-separated, of: xtoken (the rolling X-Token route as B-XTOK
// drives it), bare, floor (B-XTOK's Passport route with a strategy that only succeeds),
// otp-memory, otp-redis, otp-getdel (the bare GETDEL route), otp-floor (the GETDEL in a Passport
// strategy). Default `bare,floor,xtoken`.
// Runs bench/servers.js once, then for each side in turn loads that ONE route with autocannon and
// profiles the servers' process during the load only (V8's sampling profiler, as `node --cpu-prof`
// uses it). For each side it prints the CPU time per request, self time by area (this package,
// passport, express, Node's HTTP, crypto, GC, ...) and the heaviest functions. With several sides
// it ends with one table: µs per request by area, side by side, and each side's difference from
// the side before it, so the cost a layer adds is read off by area.
// A native frame (OpenSSL's HMAC, the socket write, ...) counts in the area of the JavaScript that
// called it: the HMAC's C++ is `node crypto`, a `writev` is Node's HTTP.
//
//   PROFILE_DIR   where the .cpuprofile files are written (default bench/results/profiles)
//   PROFILE_TOP   how many functions to list per side (default 25)
//   PROFILE_INTERVAL_US  the sampling interval (default 500 µs)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SIDES = ['xtoken', 'bare', 'floor', 'otp-memory', 'otp-redis', 'otp-getdel', 'otp-floor'];
const sides = (process.argv[2] ?? 'bare,floor,xtoken').split(',');
const seconds = Number(process.argv[3] ?? 10);
for (const side of sides) {
  if (!SIDES.includes(side)) {
    console.error(`bench/profile.js: unknown side "${side}"; the sides are ${SIDES.join(', ')}.`);
    process.exit(2);
  }
}
const dir = process.env.PROFILE_DIR ?? fileURLToPath(new URL('./results/profiles/', import.meta.url));
const top = Number(process.env.PROFILE_TOP ?? 25);
mkdirSync(dir, { recursive: true });
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US ?? 500);

const servers = fork(fileURLToPath(new URL('./servers.js', import.meta.url)), [], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
let nextId = 0;
const waiting = new Map();
let ready;
const started = new Promise((resolve) => (ready = resolve));
servers.on('message', (message) => {
  if (message.cmd === 'ready') return ready(message);
  waiting.get(message.id)?.(message.result);
});
const ask = (kind, n) =>
  new Promise((resolve) => {
    const id = nextId++;
    waiting.set(id, resolve);
    servers.send({ cmd: 'prepare', id, kind, n });
  });

const { urls } = await started;

/** A request built per call (as every B-XTOK side is), carrying an X-Token the route ignores. */
function ignoringToken(url) {
  return {
    url: `${url}/api`,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-token': 'ignored' } }),
      },
    ],
  };
}

/** Each request redeems its own fresh code, as B-OTP does: enough for the warm-up and the load. */
async function redeemingCodes(side, url) {
  const kind = side === 'otp-floor' ? 'otp-getdel' : side;
  const inputs = await ask(kind, Number(process.env.PROFILE_OTP_CODES ?? 4000 * (seconds + 2)));
  let next = 0;
  return {
    url: `${url}/verify`,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const input = inputs[next++ % inputs.length];
          return {
            ...req,
            headers: {
              ...req.headers,
              'content-type': 'application/json',
              'x-user': input.user,
              'x-session': input.session,
            },
            body: JSON.stringify({ code: input.code }),
          };
        },
      },
    ],
  };
}

/** The rolling X-Token route as B-XTOK drives it: each answer's token is the next request's. */
async function rollingTokens() {
  const idle = await ask('xtoken', 32);
  return {
    url: `${urls.xtokenOurs}/api`,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'x-token': idle.shift() } }),
        onResponse: (status, _body, _context, headers) => {
          const renewed = Object.entries(headers ?? {}).find(([n]) => n.toLowerCase() === 'x-token')?.[1];
          if (status === 200 && renewed) idle.push(renewed);
        },
      },
    ],
  };
}

async function load(side) {
  switch (side) {
    case 'bare':
      return ignoringToken(urls.xtokenBare);
    case 'floor':
      return ignoringToken(urls.xtokenFloor);
    case 'xtoken':
      return rollingTokens();
    case 'otp-memory':
      return redeemingCodes(side, urls.otpMemory);
    case 'otp-redis':
      return redeemingCodes(side, urls.otpRedis);
    case 'otp-getdel':
      return redeemingCodes(side, urls.otpGetDel);
    case 'otp-floor':
      return redeemingCodes(side, urls.otpGetDelFloor);
  }
}

/** Which part of the stack a JavaScript function belongs to, by its script. */
function scriptArea(frame) {
  const url = frame.url;
  if (
    url.includes('/node_modules/passport-factors/') ||
    (url.includes('/dist/') && !url.includes('/node_modules/'))
  )
    return 'passport-factors';
  if (url.includes('/node_modules/passport')) return 'passport';
  if (/node_modules\/(express|router|body-parser|finalhandler|send|serve-static|path-to-regexp)\//.test(url))
    return 'express';
  if (url.includes('/node_modules/'))
    return `other packages (${url.split('/node_modules/').at(-1).split('/')[0]})`;
  if (url.startsWith('node:internal/crypto') || url.startsWith('node:crypto')) return 'node crypto';
  if (/^node:(_http|http|net|internal\/(http|stream|streams|net))/.test(url)) return 'node http/net/streams';
  if (url.startsWith('node:')) return 'node (other)';
  if (url.includes('bench/')) return 'bench';
  return undefined;
}

/** Sums a profile up: self time by area and by function, native frames in their caller's area. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const areaOf = (id) => {
    const frame = byId.get(id).callFrame;
    if (frame.functionName === '(idle)') return 'idle (waiting)';
    if (frame.functionName === '(garbage collector)') return 'garbage collector';
    if (frame.functionName === '(program)') return 'V8/native (program)';
    const own = scriptArea(frame);
    if (own) return own;
    // Native code (C++ bindings, OpenSSL, V8 builtins): the area of the script that called it.
    for (let up = parentOf.get(id); up !== undefined; up = parentOf.get(up)) {
      const caller = byId.get(up).callFrame;
      if (caller.url) return scriptArea(caller) ?? 'native';
    }
    return 'native';
  };
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const areas = new Map();
  const functions = new Map();
  for (const [id, time] of self) {
    const frame = byId.get(id).callFrame;
    const area = areaOf(id);
    areas.set(area, (areas.get(area) ?? 0) + time);
    const where = frame.url
      ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${frame.lineNumber + 1}`
      : `(native, ${area})`;
    const key = `${frame.functionName || '(anonymous)'} ${where}`;
    functions.set(key, (functions.get(key) ?? 0) + time);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return { areas, functions, total };
}

const results = [];
for (const side of sides) {
  const requests = await load(side);
  // Warm up (JIT), then profile the load only.
  await autocannon({ connections: 16, pipelining: 1, duration: 2, ...requests });
  // Fresh token chains for the measured load: a chain whose answer was in flight when the
  // warm-up stopped is lost, and the load would run on fewer.
  const measured = side === 'xtoken' ? await rollingTokens() : requests;
  await ask('profile-start', INTERVAL_US);
  const cpu0 = await ask('cpu', 0);
  const result = await autocannon({ connections: 16, pipelining: 1, duration: seconds, ...measured });
  const cpu1 = await ask('cpu', 0);
  const profile = await ask('profile-stop', 0);
  const answered = result.requests.total;
  if (result.non2xx > 0 || result.errors > 0) {
    console.error(`${side}: ${result.non2xx} non-2xx answers, ${result.errors} errors: not a clean load.`);
    process.exitCode = 1;
  }
  const file = join(dir, `${side}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  const { areas, functions, total } = summarize(profile);
  const cpuUs = (cpu1 - cpu0) / answered;
  results.push({ side, areas, answered, cpuUs });
  const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  const busy = total - (areas.get('idle (waiting)') ?? 0);
  console.log(
    `\n${side}: ${answered} requests, ${Math.round(answered / seconds)} req/s, ` +
      `${cpuUs.toFixed(0)} CPU µs/request (servers' process)`,
  );
  console.log(`profile ${file}: ${(total / 1e6).toFixed(1)} s sampled, busy ${pct(busy)}`);
  console.log(`busy µs per request: ${(busy / answered).toFixed(0)}\n\nself time by area:`);
  for (const [area, time] of [...areas].sort((x, y) => y[1] - x[1])) {
    console.log(`${pct(time)}  ${(time / answered).toFixed(1).padStart(7)} µs/req  ${area}`);
  }
  console.log(`\nheaviest functions (self time):`);
  for (const [name, time] of [...functions].sort((x, y) => y[1] - x[1]).slice(0, top)) {
    console.log(`${pct(time)}  ${(time / answered).toFixed(1).padStart(7)} µs/req  ${name}`);
  }
}
servers.send({ cmd: 'stop' });
await once(servers, 'exit');

if (results.length > 1) {
  // One table: µs per request by area for every side, and what each side adds to the one before.
  const names = [...new Set(results.flatMap((r) => [...r.areas.keys()]))].filter(
    (a) => a !== 'idle (waiting)',
  );
  const perRequest = (r, area) => (r.areas.get(area) ?? 0) / r.answered;
  names.sort((a, b) => perRequest(results.at(-1), b) - perRequest(results.at(-1), a));
  const header = [
    'area',
    ...results.flatMap((r, i) => (i === 0 ? [r.side] : [r.side, `+ over ${results[i - 1].side}`])),
  ];
  const row = (label, value) => [
    label,
    ...results.flatMap((r, i) => (i === 0 ? [value(r)] : [value(r), value(r) - value(results[i - 1])])),
  ];
  const rows = names.map((area) => row(area, (r) => perRequest(r, area)));
  rows.push(row('busy, sampled', (r) => names.reduce((sum, area) => sum + perRequest(r, area), 0)));
  rows.push(row('CPU time, measured', (r) => r.cpuUs));
  const fmt = (v) => (typeof v === 'number' ? v.toFixed(1) : v);
  console.log(
    `\nµs per request by area\n\n| ${header.join(' | ')} |\n|${header.map(() => ' --- ').join('|')}|`,
  );
  for (const cells of rows) console.log(`| ${cells.map(fmt).join(' | ')} |`);
}
