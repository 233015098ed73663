// The servers the HTTP benchmarks load, in their own process (so autocannon in the parent does
// not share a thread with them): our strategies and their baselines, each on its own port, with
// the same surrounding middleware on both sides, plus the sandbox as the loopback provider.
// The parent drives it over IPC: `ready` with the URLs, then `prepare-*` requests for the
// single-use inputs each side needs (authorization codes, one-time codes).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import inspector from 'node:inspector';
import express from 'express';
import session from 'express-session';
import * as oidc from 'openid-client';
import { Strategy as OidcStrategy } from 'openid-client/passport';
import { Passport } from 'passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { Strategy as PassportStrategy } from 'passport-strategy';
import { SmsOtpStrategy } from 'passport-factors/sms-otp';
import { MemoryStore, RedisStore } from 'passport-factors/stores';
import { XignInStrategy } from 'passport-factors/xignin';
import { XTokenStrategy } from 'passport-factors/x-token';
import { startSandbox } from 'passport-factors/sandbox';
import { createClient } from 'redis';
import { request } from 'undici';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const USER = { id: 'u1', username: 'alice', name: 'Alice Example' };

async function listen(app) {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

/** The parts every OIDC app shares: a session (the transaction lives there) and Passport. */
function sessionApp() {
  const app = express();
  app.disable('x-powered-by');
  app.use(
    session({
      secret: 'bench-session-secret-bench-session-secret',
      resave: false,
      saveUninitialized: false,
      store: new session.MemoryStore(),
    }),
  );
  const passport = new Passport();
  app.use(passport.initialize());
  return { app, passport };
}

const sandbox = await startSandbox();
sandbox.xignin.mintAtApproval = true;
const redis = createClient({ url: REDIS_URL });
redis.on('error', () => undefined);
await redis.connect();

// --- B-OIDC: the same provider, keys and tokens for both relying parties ---
const encryption = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const encJwk = { ...encryption.publicKey.export({ format: 'jwk' }), kid: 'bench-enc', use: 'enc' };
const clientSecret = randomBytes(24).toString('base64url');

/** A relying party's app, registered at the sandbox manager with the same keys as the other. */
async function relyingParty(clientId) {
  const { app, passport } = sessionApp();
  const listening = await listen(app);
  sandbox.xignin.registerClient({
    clientId,
    clientSecret,
    redirectUris: [`${listening.url}/callback`],
    idTokenEncryptedResponseAlg: 'ECDH-ES+A256KW',
    jwks: [encJwk],
  });
  return { app, passport, url: listening.url };
}
/** Both sides answer the callback the same way: 200 with the user's id, or 401. */
function callbackRoute(passport, strategy) {
  return (req, res, next) =>
    passport.authenticate(strategy, { session: false }, (err, user) => {
      if (err) return next(err);
      res.status(user ? 200 : 401).json({ user: user ? user.id : null });
    })(req, res, next);
}

const ours = await relyingParty('bench-ours');
const oursOidc = ours;
const xignin = new XignInStrategy(
  {
    managerUrl: sandbox.xignin.issuer,
    clientId: 'bench-ours',
    clientSecret,
    redirectUri: `${oursOidc.url}/callback`,
    decryptionKeys: [{ kid: 'bench-enc', key: encryption.privateKey }],
    idTokenEncryption: { alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512' },
    // Every prepared login comes from this one loopback client; B-OIDC measures the callback.
    startLimit: { points: 1_000_000, durationSec: 60 },
  },
  (claims) => (claims.sub === 'xign-7f3a1c' ? USER : false),
);
ours.passport.use(xignin);
ours.app.get('/login', ours.passport.authenticate('xignin', { session: false }));
ours.app.get('/callback', callbackRoute(ours.passport, 'xignin'));

const base = await relyingParty('bench-openid-client');
const baseOidc = base;
const config = await oidc.discovery(
  new URL(sandbox.xignin.issuer),
  'bench-openid-client',
  undefined,
  // The same client authentication as ours: client_secret_basic.
  oidc.ClientSecretBasic(clientSecret),
  { execute: [oidc.allowInsecureRequests] },
);
oidc.enableNonRepudiationChecks(config);
const decryptionKey = await crypto.subtle.importKey(
  'pkcs8',
  encryption.privateKey.export({ format: 'der', type: 'pkcs8' }),
  { name: 'ECDH', namedCurve: 'P-256' },
  false,
  ['deriveBits'],
);
oidc.enableDecryptingResponses(config, ['A256CBC-HS512'], {
  key: decryptionKey,
  alg: 'ECDH-ES+A256KW',
  kid: 'bench-enc',
});
base.passport.use(
  'oidc',
  new OidcStrategy({ config, scope: 'openid', callbackURL: `${baseOidc.url}/callback` }, (tokens, done) =>
    done(null, tokens.claims()?.sub === 'xign-7f3a1c' ? USER : false),
  ),
);
base.app.get('/login', base.passport.authenticate('oidc', { session: false }));
base.app.get('/callback', callbackRoute(base.passport, 'oidc'));

// --- B-XTOK: a route behind a rolling X-Token, behind passport-jwt, and with no check at all ---
const xTokenSecret = randomBytes(32);
const xTokenApp = express();
xTokenApp.disable('x-powered-by');
const xTokenPassport = new Passport();
xTokenApp.use(xTokenPassport.initialize());
const xToken = new XTokenStrategy({ secret: xTokenSecret, store: new MemoryStore() }, (payload) =>
  payload.sub === USER.id ? USER : false,
);
xTokenPassport.use(xToken);
xTokenApp.get('/api', xTokenPassport.authenticate('x-token', { session: false }), (req, res) =>
  res.json({ id: req.user.id }),
);
const xTokenServer = await listen(xTokenApp);
const { token: xTokenValue } = await xToken.tokens.issue(USER.id);

const jwtSecret = randomBytes(32);
const jwtApp = express();
jwtApp.disable('x-powered-by');
const jwtPassport = new Passport();
jwtApp.use(jwtPassport.initialize());
jwtPassport.use(
  new JwtStrategy(
    {
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: jwtSecret,
      algorithms: ['HS256'],
      issuer: 'bench',
    },
    (payload, done) => done(null, payload.sub === USER.id ? USER : false),
  ),
);
jwtApp.get('/api', jwtPassport.authenticate('jwt', { session: false }), (req, res) =>
  res.json({ id: req.user.id }),
);
const jwtServer = await listen(jwtApp);
const { SignJWT } = await import('jose');
const jwtValue = await new SignJWT({})
  .setProtectedHeader({ alg: 'HS256' })
  .setIssuer('bench')
  .setSubject(USER.id)
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(jwtSecret);

// The floor of any Passport strategy: Passport's own middleware around a strategy that does
// nothing but succeed (no token, no store, no header).
class SucceedStrategy extends PassportStrategy {
  name = 'succeed';
  authenticate() {
    this.success(USER);
  }
}
const floorApp = express();
floorApp.disable('x-powered-by');
const floorPassport = new Passport();
floorApp.use(floorPassport.initialize());
floorPassport.use(new SucceedStrategy());
floorApp.get('/api', floorPassport.authenticate('succeed', { session: false }), (req, res) =>
  res.json({ id: req.user.id }),
);
const floorServer = await listen(floorApp);

const bareApp = express();
bareApp.disable('x-powered-by');
bareApp.get('/api', (_req, res) => res.json({ id: USER.id }));
const bareServer = await listen(bareApp);

// --- B-OTP: verifying a pending code (memory and Redis stores) and a bare GETDEL route ---
// The first factor is done: the user and the session binding come in headers, so neither side
// pays for a session store, and each request redeems its own fresh code.
function otpApp(store) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json());
  const passport = new Passport();
  app.use(passport.initialize());
  app.use((req, _res, next) => {
    req.user = { id: req.get('x-user') };
    next();
  });
  const strategy = new SmsOtpStrategy({
    sender: { send: async () => undefined },
    store,
    secret: randomBytes(32),
    getPhoneNumber: () => '+4915790000001',
    getSessionId: (req) => req.get('x-session'),
  });
  passport.use(strategy);
  app.post('/verify', passport.authenticate('sms-otp', { session: false }), (req, res) =>
    res.json({ verified: req.user.id }),
  );
  return { app, strategy };
}
const otpMemory = otpApp(new MemoryStore());
const otpRedis = otpApp(
  new RedisStore({ client: redis, prefix: `bench-${randomBytes(6).toString('hex')}:` }),
);
const otpMemoryServer = await listen(otpMemory.app);
const otpRedisServer = await listen(otpRedis.app);

const getDelPrefix = `bench-getdel-${randomBytes(6).toString('hex')}:`;
const getDelApp = express();
getDelApp.disable('x-powered-by');
getDelApp.use(express.json());
getDelApp.post('/verify', async (req, res, next) => {
  try {
    const stored = await redis.getDel(`${getDelPrefix}${req.get('x-session')}`);
    if (stored === null || stored !== req.body?.code) return res.status(401).json({ verified: false });
    res.json({ verified: req.get('x-user') });
  } catch (err) {
    next(err);
  }
});
const getDelServer = await listen(getDelApp);

// The floor of any Passport strategy for B-OTP: the baseline's GETDEL and compare, done by a
// strategy behind Passport's own middleware.
class GetDelStrategy extends PassportStrategy {
  name = 'getdel';
  authenticate(req) {
    redis.getDel(`${getDelPrefix}${req.get('x-session')}`).then(
      (stored) =>
        stored === null || stored !== req.body?.code
          ? this.fail(401)
          : this.success({ id: req.get('x-user') }),
      (err) => this.error(err),
    );
  }
}
const getDelFloorApp = express();
getDelFloorApp.disable('x-powered-by');
getDelFloorApp.use(express.json());
const getDelPassport = new Passport();
getDelFloorApp.use(getDelPassport.initialize());
getDelPassport.use(new GetDelStrategy());
getDelFloorApp.post('/verify', getDelPassport.authenticate('getdel', { session: false }), (req, res) =>
  res.json({ verified: req.user.id }),
);
const getDelFloorServer = await listen(getDelFloorApp);

/** One browser's login up to XignIn's redirect back: the callback path and the session cookie. */
async function preparedCallback(appUrl) {
  const login = await request(`${appUrl}/login`);
  await login.body.dump();
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  const authorize = new URL(login.headers.location);
  const page = await request(authorize);
  const loginId = /data-login="([^"]+)"/.exec(await page.body.text())[1];
  sandbox.xignin.approve('alice', loginId);
  const wait = await request(`${sandbox.url}/xignin/openid/authenticate/wait?login=${loginId}`);
  const back = new URL((await wait.body.json()).redirect);
  return { cookie, path: `${back.pathname}${back.search}` };
}

let profiler;
const post = (method, params) =>
  new Promise((resolve, reject) =>
    profiler.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
  );

async function prepare(kind, n) {
  const out = [];
  switch (kind) {
    case 'oidc-ours':
    case 'oidc-base': {
      const url = kind === 'oidc-ours' ? oursOidc.url : baseOidc.url;
      for (let i = 0; i < n; i++) out.push(await preparedCallback(url));
      return out;
    }
    case 'otp-memory':
    case 'otp-redis': {
      const { strategy } = kind === 'otp-memory' ? otpMemory : otpRedis;
      for (let i = 0; i < n; i++) {
        const user = `user-${randomBytes(8).toString('hex')}`;
        const binding = randomBytes(16).toString('base64url');
        const { code } = await strategy.codes.issue(user, binding);
        out.push({ user, session: binding, code });
      }
      return out;
    }
    case 'otp-getdel': {
      for (let i = 0; i < n; i++) {
        const user = `user-${randomBytes(8).toString('hex')}`;
        const binding = randomBytes(16).toString('base64url');
        const code = String(100000 + (i % 900000));
        await redis.set(`${getDelPrefix}${binding}`, code, { EX: 300 });
        out.push({ user, session: binding, code });
      }
      return out;
    }
    case 'profile-start': {
      // bench/profile.js: a V8 CPU profile of the load only (not of start-up).
      profiler ??= new inspector.Session();
      profiler.connect();
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: n });
      await post('Profiler.start');
      return null;
    }
    case 'profile-stop': {
      const { profile } = await post('Profiler.stop');
      profiler.disconnect();
      return profile;
    }
    case 'cpu': {
      // The process's CPU time so far (µs); the parent divides a run's share by its requests.
      const { user, system } = process.cpuUsage();
      return user + system;
    }
    case 'xtoken': {
      // Fresh token families: every X-Token request renews its token (the predecessor lives on
      // for reuseGraceSec only), so each autocannon run rolls its own chains.
      for (let i = 0; i < n; i++) out.push((await xToken.tokens.issue(USER.id)).token);
      return out;
    }
    default:
      throw new Error(`Unknown preparation "${kind}".`);
  }
}

process.on('message', async (message) => {
  if (message.cmd === 'prepare') {
    try {
      process.send({ id: message.id, result: await prepare(message.kind, message.n) });
    } catch (err) {
      process.send({ id: message.id, error: String(err?.stack ?? err) });
    }
  } else if (message.cmd === 'stop') {
    await redis.quit();
    process.exit(0);
  }
});

// Without IPC (profiling by hand: `node --cpu-prof bench/servers.js`), print the URLs instead.
const announce = process.send
  ? (message) => process.send(message)
  : (message) => console.log(JSON.stringify(message));
process.on('SIGINT', () => process.exit(0));
announce({
  cmd: 'ready',
  sandbox: { url: sandbox.url, secsignServers: sandbox.secsign.serverUrls },
  urls: {
    oidcOurs: oursOidc.url,
    oidcBase: baseOidc.url,
    xtokenOurs: xTokenServer.url,
    xtokenJwt: jwtServer.url,
    xtokenBare: bareServer.url,
    xtokenFloor: floorServer.url,
    otpMemory: otpMemoryServer.url,
    otpRedis: otpRedisServer.url,
    otpGetDel: getDelServer.url,
    otpGetDelFloor: getDelFloorServer.url,
  },
  tokens: { xToken: xTokenValue, jwt: jwtValue },
});
