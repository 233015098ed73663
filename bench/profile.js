// `node bench/profile.js [xtoken|bare|otp-memory|otp-redis|otp-getdel] [seconds]`: where a B-XTOK or
// B-OTP request's server time goes.
// Runs bench/servers.js, loads ONE route with autocannon (the rolling
// X-Token route as B-XTOK drives it, or the bare route), profiles the servers' process during the load only (V8's
// sampling profiler, as `node --cpu-prof` uses it) and sums the profile up: self time
// by area (our code, passport, express, node's HTTP, crypto, ...) and the heaviest functions.
//
//   PROFILE_DIR   where the .cpuprofile is written (default bench/results/profiles)
//   PROFILE_TOP   how many functions to list (default 25)
//   PROFILE_INTERVAL_US  the sampling interval (default 500 µs)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const side = process.argv[2] ?? 'xtoken';
const seconds = Number(process.argv[3] ?? 10);
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
let requests;
const OTP_URLS = { 'otp-memory': urls.otpMemory, 'otp-redis': urls.otpRedis, 'otp-getdel': urls.otpGetDel };
if (side === 'bare') {
  requests = { url: `${urls.xtokenBare}/api` };
} else if (side in OTP_URLS) {
  // Each request redeems its own fresh code, as B-OTP does: enough for the warm-up and the load.
  const inputs = await ask(side, Number(process.env.PROFILE_OTP_CODES ?? 4000 * (seconds + 2)));
  let next = 0;
  requests = {
    url: `${OTP_URLS[side]}/verify`,
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
} else {
  const idle = await ask('xtoken', 32);
  requests = {
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
// Warm up (JIT), then profile the load only.
await autocannon({ connections: 16, pipelining: 1, duration: 2, ...requests });
await ask('profile-start', INTERVAL_US);
const cpu0 = await ask('cpu', 0);
const result = await autocannon({ connections: 16, pipelining: 1, duration: seconds, ...requests });
const cpu1 = await ask('cpu', 0);
const profile = await ask('profile-stop', 0);
const answered = result.requests.total;
console.log(
  `${side}: ${answered} requests, ${result.non2xx} non-2xx, ${Math.round(answered / seconds)} req/s, ` +
    `${((cpu1 - cpu0) / answered).toFixed(0)} CPU µs/request (servers' process)`,
);
servers.send({ cmd: 'stop' });
await once(servers, 'exit');
const file = join(dir, `${side}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
writeFileSync(file, JSON.stringify(profile));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
const dt = profile.timeDeltas;
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

/** Which part of the stack a function belongs to, by its script. */
function area(frame) {
  const url = frame.url;
  if (frame.functionName === '(idle)') return 'idle (waiting)';
  if (frame.functionName === '(garbage collector)') return 'garbage collector';
  if (frame.functionName === '(program)') return 'V8/native (program)';
  if (url.includes('/dist/')) return 'passport-factors';
  if (url.includes('/node_modules/passport')) return 'passport';
  if (/node_modules\/(express|router|body-parser|finalhandler|send|serve-static)\//.test(url))
    return 'express';
  if (url.includes('/node_modules/'))
    return `other packages (${url.split('/node_modules/').at(-1).split('/')[0]})`;
  if (url.startsWith('node:internal/crypto') || url.startsWith('node:crypto')) return 'node crypto';
  if (/^node:(_http|http|net|internal\/(http|stream|streams|net))/.test(url)) return 'node http/net/streams';
  if (url.startsWith('node:')) return 'node (other)';
  if (url.includes('bench/')) return 'bench';
  return frame.functionName ? 'native' : 'unattributed';
}
const areas = new Map();
const functions = new Map();
for (const [id, time] of self) {
  const frame = byId.get(id).callFrame;
  const a = area(frame);
  areas.set(a, (areas.get(a) ?? 0) + time);
  const where = frame.url
    ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${frame.lineNumber + 1}`
    : '';
  const key = `${frame.functionName || '(anonymous)'} ${where}`;
  functions.set(key, (functions.get(key) ?? 0) + time);
}
const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
const busy = total - (areas.get('idle (waiting)') ?? 0);
console.log(`\nprofile ${file}: ${(total / 1e6).toFixed(1)} s sampled, busy ${pct(busy)}`);
console.log(`busy µs per request: ${(busy / answered).toFixed(0)}\n\nself time by area:`);
for (const [a, t] of [...areas].sort((x, y) => y[1] - x[1])) {
  console.log(`${pct(t)}  ${(t / answered).toFixed(1).padStart(7)} µs/req  ${a}`);
}
console.log(`\nheaviest functions (self time):`);
for (const [f, t] of [...functions].sort((x, y) => y[1] - x[1]).slice(0, top)) {
  console.log(`${pct(t)}  ${(t / answered).toFixed(1).padStart(7)} µs/req  ${f}`);
}
