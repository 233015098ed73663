// `node bench/instructions.js [requests] [bare|passport|xtoken]`: instructions per request, counted by valgrind's
// callgrind, for the B-XTOK routes: the rolling X-Token route and the bare Express route, each in
// its own server process (and, with `passport`, a route behind Passport and a strategy that
// does nothing, which tells Passport's own share) under `valgrind --tool=callgrind`, driven by autocannon from here.
// After a warm-up (JIT), the counters are zeroed (`callgrind_control -z`), `requests` requests
// run (default 2,000), and the counters are dumped: Ir / requests is the server's instructions per
// request. Unlike req/s, this barely moves with the load other processes put on the machine.
// CALLGRIND_KEEP=1 keeps the dumps for `callgrind_annotate` (JIT-compiled JavaScript shows as
// unnamed addresses; the native side, OpenSSL, libuv, V8's runtime and GC, is named).
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const USER = { id: 'u1' };

if (process.argv[2] === 'serve') {
  // The two B-XTOK routes exactly as bench/servers.js sets them up, nothing else in the process.
  const { default: express } = await import('express');
  const { Passport } = await import('passport');
  const { XTokenStrategy } = await import('passport-factors');
  const { MemoryStore } = await import('passport-factors/stores');
  const app = express();
  app.disable('x-powered-by');
  if (process.argv[3] === 'xtoken') {
    const passport = new Passport();
    app.use(passport.initialize());
    const xToken = new XTokenStrategy({ secret: randomBytes(32), store: new MemoryStore() }, (payload) =>
      payload.sub === USER.id ? USER : false,
    );
    passport.use(xToken);
    app.get('/api', passport.authenticate('x-token', { session: false }), (req, res) =>
      res.json({ id: req.user.id }),
    );
    const tokens = [];
    for (let i = 0; i < 32; i++) tokens.push((await xToken.tokens.issue(USER.id)).token);
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    console.log(JSON.stringify({ port: server.address().port, tokens }));
  } else if (process.argv[3] === 'passport') {
    // Passport's own glue with a strategy that does nothing: initialize(), authenticate(), logIn().
    const { Strategy } = await import('passport-strategy');
    class Noop extends Strategy {
      name = 'noop';
      authenticate() {
        this.success(USER);
      }
    }
    const passport = new Passport();
    app.use(passport.initialize());
    passport.use(new Noop());
    app.get('/api', passport.authenticate('noop', { session: false }), (req, res) =>
      res.json({ id: req.user.id }),
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    console.log(JSON.stringify({ port: server.address().port, tokens: [] }));
  } else {
    app.get('/api', (_req, res) => res.json({ id: USER.id }));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    console.log(JSON.stringify({ port: server.address().port, tokens: [] }));
  }
} else {
  const requests = Number(process.argv[2] ?? 2000);
  const results = {};
  const sides = process.argv[3] ? [process.argv[3]] : ['bare', 'xtoken'];
  for (const side of sides) {
    const out = `/tmp/bench-callgrind-${process.pid}-${side}.out`;
    const child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${out}`,
        process.execPath,
        fileURLToPath(import.meta.url),
        'serve',
        side,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const [line] = await once(createInterface({ input: child.stdout }), 'line');
    const { port, tokens } = JSON.parse(line);
    const idle = [...tokens];
    const load = (amount) =>
      autocannon({
        url: `http://127.0.0.1:${port}/api`,
        connections: 16,
        amount,
        timeout: 600,
        requests: [
          {
            setupRequest: (req) =>
              side === 'xtoken' ? { ...req, headers: { 'x-token': idle.shift() } } : req,
            onResponse: (status, _body, _context, headers) => {
              const renewed = Object.entries(headers ?? {}).find(([n]) => n.toLowerCase() === 'x-token')?.[1];
              if (side === 'xtoken' && status === 200 && renewed) idle.push(renewed);
            },
          },
        ],
      });

    try {
      const warm = await load(1000);
      execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
      const run = await load(requests);
      execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
      if (warm.non2xx + run.non2xx + run.errors + run.timeouts > 0)
        throw new Error(`${side}: failed requests`);
    } finally {
      child.kill('SIGINT');
      await once(child, 'exit');
    }
    // The dump after zeroing is `<out>.1`; its `summary:` line is the total Ir.
    const dump = readFileSync(`${out}.1`, 'utf8');
    const ir = Number(/^(?:summary|totals): (\d+)/m.exec(dump)[1]);
    results[side] = ir / requests;
    rmSync(out, { force: true });
    if (process.env.CALLGRIND_KEEP) console.error(`  kept ${out}.1 (callgrind_annotate it)`);
    else rmSync(`${out}.1`, { force: true });
    console.error(`  ${side}: ${Math.round(ir / requests).toLocaleString('en')} instructions/request`);
  }
  if (sides.length === 2)
    console.log(
      `B-XTOK instructions per request (callgrind, ${requests} requests, server process): X-Token ${Math.round(results.xtoken).toLocaleString('en')}, bare ${Math.round(results.bare).toLocaleString('en')}, ratio bare/X-Token ${(results.bare / results.xtoken).toFixed(2)}`,
    );
}
