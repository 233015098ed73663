import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Express, RequestHandler } from 'express';
import session from 'express-session';
import type { TOTP } from 'otpauth';
import { URI } from 'otpauth';
import type { RedisClientType } from 'redis';
import sinon from 'sinon';
import request from 'supertest';
import { createTotpRecords } from '../../example-app/totp-records.js';
import { BasicLoginStrategy, RiscStrategy, type Store } from '../../src/index.js';
import { PartialLogin } from '../../src/exports/partial-login.js';
import { RiskStepUp } from '../../src/exports/risc.js';
import { MemoryStore, RedisStore } from '../../src/exports/stores.js';
import {
  TotpStrategy,
  totpHandlers,
  type TotpEvent,
  type TotpStrategyOptions,
} from '../../src/exports/totp.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import {
  appWithPassport,
  basicHeader,
  decidingRoute,
  jsonErrors,
  testUsers,
  type UserDirectory,
} from '../helpers/apps.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis.js';

const PASSWORDS: Record<string, string> = {
  alice: 'correct horse battery staple',
  bob: 'pa:ss with a colon',
};
/** One second into a 30 s time step. */
const T0 = Date.UTC(2026, 0, 1, 0, 0, 1);

interface TotpAppSetup {
  users: UserDirectory;
  store: Store;
  records: ReturnType<typeof createTotpRecords>;
  secret: Buffer;
  sessionStore?: session.Store;
  options?: Partial<Omit<TotpStrategyOptions, 'passReqToCallback'>>;
  events?: TotpEvent[];
}

/** Password login (first factor), then the authenticator code as second factor for req.user. */
function totpApp(setup: TotpAppSetup): Express {
  const { users } = setup;
  const { app, passport } = appWithPassport({
    sessions: true,
    sessionStore: setup.sessionStore,
    deserialize: (id) => users.findById(id),
  });
  passport.use(
    new BasicLoginStrategy({ store: setup.store }, (u: string, p: string) => users.checkPassword(u, p)),
  );
  const totp = new TotpStrategy({
    issuer: 'Example',
    secret: setup.secret,
    store: setup.store,
    ...setup.records,
    onEvent: (event) => setup.events?.push(event),
    ...setup.options,
  });
  passport.use(totp);
  app.post('/login', passport.authenticate('basic-login') as RequestHandler, (_req, res) =>
    res.json({ ok: true }),
  );
  const routes = totpHandlers(totp);
  app.post('/totp/enroll', routes.enroll);
  app.post('/totp/enroll/confirm', routes.confirm);
  app.post('/totp/recovery-codes', routes.recoveryCodes);
  app.post('/totp/verify', decidingRoute(passport, 'totp'));
  // A step-up check that keeps the session as it is (no login, so no session regeneration).
  app.post('/totp/check', (req, res, next) =>
    passport.authenticate(
      'totp',
      { session: false },
      (err: unknown, user: Express.User | false, info: unknown, status: number) => {
        if (err) return next(err);
        if (!user) return res.status(status).json(info);
        res.json({ info });
      },
    )(req, res, next),
  );
  app.use(jsonErrors);
  return app;
}

/** The code the user's authenticator app shows now (the clock is faked), from the enrollment URI. */
function codeNow(uri: string, offsetMs = 0): string {
  return (URI.parse(uri) as TOTP).generate({ timestamp: Date.now() + offsetMs });
}

function otherThan(code: string): string {
  return code === '000000' ? '111111' : '000000';
}

async function loggedIn(app: Express, who = 'alice') {
  const agent = request.agent(app);
  const res = await agent.post('/login').set('Authorization', basicHeader(who, PASSWORDS[who]!));
  expect(res.status, 'first factor').to.equal(200);
  return agent;
}

/** Enrolls over HTTP; answers the URI. The clock moves two steps on, so the next code is unused. */
async function enrollOver(agent: ReturnType<typeof request.agent>, clock: sinon.SinonFakeTimers) {
  const started = await agent.post('/totp/enroll').send({});
  expect(started.status).to.equal(200);
  const confirmed = await agent.post('/totp/enroll/confirm').send({ code: codeNow(started.body.uri) });
  expect(confirmed.status).to.equal(200);
  expect(confirmed.body).to.deep.equal({ enrolled: true });
  clock.tick(60_000);
  return started.body.uri as string;
}

function totpSuite(label: string, makeStore: (ctx: Mocha.Context) => Promise<Store>): void {
  describe(`TotpStrategy over HTTP (${label} store)`, function () {
    let users: UserDirectory;
    let store: Store;
    let records: ReturnType<typeof createTotpRecords>;
    let clock: sinon.SinonFakeTimers;
    let events: TotpEvent[];
    const secret = randomBytes(32);
    const setup = (extra: Partial<TotpAppSetup> = {}) =>
      totpApp({ users, store, records, secret, events, ...extra });

    before(async () => {
      users = await testUsers();
    });
    beforeEach(async function () {
      store = await makeStore(this);
      records = createTotpRecords();
      events = [];
      clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'], shouldClearNativeTimers: false });
    });
    afterEach(() => clock.restore());

    it('enrolls (URI + QR, no-store), confirms with the first code, then logs in with a code as second factor (200, amr otp)', async () => {
      const agent = await loggedIn(setup());
      const started = await agent.post('/totp/enroll').send({});
      expect(started.status).to.equal(200);
      expect(started.headers['cache-control']).to.equal('no-store');
      expect(started.body).to.have.all.keys('uri', 'qr', 'manualEntryKey', 'expiresIn');
      expect(started.body.uri).to.match(/^otpauth:\/\/totp\/Example:alice%40example\.test\?/);
      expect(started.body.qr).to.match(/^data:image\/png;base64,/);
      const confirmed = await agent.post('/totp/enroll/confirm').send({ code: codeNow(started.body.uri) });
      expect(confirmed.body).to.deep.equal({ enrolled: true });
      clock.tick(60_000);
      const res = await agent.post('/totp/verify').send({ code: codeNow(started.body.uri) });
      expect(res.status).to.equal(200);
      expect(res.body.user.username).to.equal('alice');
      expect(res.body.info).to.deep.equal({ method: 'totp', amr: ['otp'], recoveryCode: false });
      expect(events.map((e) => e.type)).to.deep.equal(['enrollment_started', 'enrolled', 'verified']);
    });

    it('missing code → 400 missing_credentials; wrong code → 401 invalid_code with attemptsRemaining', async () => {
      const agent = await loggedIn(setup());
      const uri = await enrollOver(agent, clock);
      const missing = await agent.post('/totp/verify').send({});
      expect(missing.status).to.equal(400);
      expect(missing.body.code).to.equal('missing_credentials');
      const wrong = await agent.post('/totp/verify').send({ code: otherThan(codeNow(uri)) });
      expect(wrong.status).to.equal(401);
      expect(wrong.body).to.include({ code: 'invalid_code', attemptsRemaining: 4 });
    });

    it('TOTP replay: the same right code again → 401 replayed (a code of its own), also from another session', async () => {
      const app = setup();
      const agent = await loggedIn(app);
      const uri = await enrollOver(agent, clock);
      const code = codeNow(uri);
      expect((await agent.post('/totp/verify').send({ code })).status).to.equal(200);
      const again = await agent.post('/totp/verify').send({ code });
      expect(again.status).to.equal(401);
      expect(again.body.code).to.equal('replayed');
      const elsewhere = await (await loggedIn(app)).post('/totp/verify').send({ code });
      expect(elsewhere.body.code).to.equal('replayed');
    });

    it('TOTP window: a code 30 s old is accepted, one 60 s old is refused', async () => {
      const agent = await loggedIn(setup());
      const uri = await enrollOver(agent, clock);
      const old = await agent.post('/totp/verify').send({ code: codeNow(uri, -60_000) });
      expect(old.body.code).to.equal('invalid_code');
      expect((await agent.post('/totp/verify').send({ code: codeNow(uri, -30_000) })).status).to.equal(200);
    });

    it('TOTP lockout: after maxAttempts wrong codes → 429 locked with Retry-After; the right code too', async () => {
      const agent = await loggedIn(setup({ options: { maxAttempts: 3 } }));
      const uri = await enrollOver(agent, clock);
      const wrong = otherThan(codeNow(uri));
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await agent.post('/totp/verify').send({ code: wrong })).status);
      expect(statuses).to.deep.equal([401, 401, 429]);
      const locked = await agent.post('/totp/verify').send({ code: codeNow(uri) });
      expect(locked.status).to.equal(429);
      expect(locked.body.code).to.equal('locked');
      expect(Number(locked.headers['retry-after'])).to.be.within(1, 900);
    });

    it('TOTP replay: 20 parallel submissions of one right code → exactly one 200', async () => {
      const agent = await loggedIn(setup({ options: { maxAttempts: 30 } }));
      const uri = await enrollOver(agent, clock);
      const code = codeNow(uri);
      // Through a route that does not log in, so no session regeneration can refuse them first.
      const results = await Promise.all(
        Array.from({ length: 20 }, () => agent.post('/totp/check').send({ code })),
      );
      expect(results.filter((r) => r.status === 200)).to.have.length(1);
      expect(results.filter((r) => r.status === 401 && r.body.code === 'replayed')).to.have.length(19);
    });

    it('TOTP recovery-code single use: codes shown once (no-store), one logs in once, then 401', async () => {
      const agent = await loggedIn(setup());
      await enrollOver(agent, clock);
      const generated = await agent.post('/totp/recovery-codes').send({});
      expect(generated.status).to.equal(200);
      expect(generated.headers['cache-control']).to.equal('no-store');
      expect(generated.body.recoveryCodes).to.have.length(10);
      const code = generated.body.recoveryCodes[3] as string;
      const used = await agent.post('/totp/verify').send({ code });
      expect(used.status).to.equal(200);
      expect(used.body.info).to.deep.equal({ method: 'totp', amr: ['otp'], recoveryCode: true });
      const again = await agent.post('/totp/verify').send({ code });
      expect(again.status).to.equal(401);
      expect(again.body.code).to.equal('invalid_code');
    });

    it('without a first factor: verify 401 no_pending_challenge, enrollment 401 missing_credentials', async () => {
      const app = setup();
      const verify = await request(app).post('/totp/verify').send({ code: '123456' });
      expect(verify.status).to.equal(401);
      expect(verify.body.code).to.equal('no_pending_challenge');
      for (const path of ['/totp/enroll', '/totp/enroll/confirm', '/totp/recovery-codes']) {
        const res = await request(app).post(path).send({ code: '123456' });
        expect(res.status, path).to.equal(401);
        expect(res.body.code, path).to.equal('missing_credentials');
      }
    });

    it('not enrolled → 401 not_enrolled, uncounted', async () => {
      const agent = await loggedIn(setup({ options: { maxAttempts: 1 } }));
      const res = await agent.post('/totp/verify').send({ code: '123456' });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('not_enrolled');
      expect((await agent.post('/totp/verify').send({ code: '123456' })).body.code).to.equal('not_enrolled');
    });

    it('the enrollment handlers refuse another site’s request (403 cross_origin), nothing enrolled', async () => {
      const agent = await loggedIn(setup());
      const res = await agent.post('/totp/enroll').set('Origin', 'https://evil.example').send({});
      expect(res.status).to.equal(403);
      expect(res.body.code).to.equal('cross_origin');
      const codes = await agent
        .post('/totp/recovery-codes')
        .set('Sec-Fetch-Site', 'cross-site')
        .set('Origin', 'https://evil.example')
        .send({});
      expect(codes.status).to.equal(403);
      expect(events).to.deep.equal([]);
    });

    it('the secret is never in a verify answer, a failure, or an event; nor a code', async () => {
      const agent = await loggedIn(setup());
      const started = await agent.post('/totp/enroll').send({});
      const { uri, manualEntryKey } = started.body as { uri: string; manualEntryKey: string };
      const code = codeNow(uri);
      const bodies: unknown[] = [];
      bodies.push((await agent.post('/totp/enroll/confirm').send({ code: otherThan(code) })).body);
      bodies.push((await agent.post('/totp/enroll/confirm').send({ code })).body);
      bodies.push((await agent.post('/totp/verify').send({ code })).body);
      clock.tick(60_000);
      bodies.push((await agent.post('/totp/verify').send({ code: codeNow(uri) })).body);
      const seen = JSON.stringify([bodies, events]);
      expect(seen).to.not.include(manualEntryKey);
      expect(seen).to.not.include(code);
      expect(seen).to.not.include('otpauth');
    });
  });
}

totpSuite('memory', async () => new MemoryStore());
totpSuite('Redis', async (ctx) => {
  const client = await redisOrSkip(ctx);
  after(async () => {
    if (client.isOpen) await client.close();
  });
  return new RedisStore({ client, prefix: uniquePrefix('totp') });
});

describe('TotpStrategy on two instances sharing a RedisStore', function () {
  let users: UserDirectory;
  let client: RedisClientType;
  let clock: sinon.SinonFakeTimers;

  before(async function () {
    users = await testUsers();
    client = await redisOrSkip(this);
  });
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
  });
  afterEach(() => clock.restore());
  after(async () => {
    if (client?.isOpen) await client.close();
  });

  /** Two Express apps over one RedisStore, one session store and one user database (as in production). */
  function twoInstances(options: TotpAppSetup['options'] = {}) {
    const prefix = uniquePrefix('totp-multi');
    const secret = randomBytes(32);
    const records = createTotpRecords();
    const sessionStore = new session.MemoryStore();
    const make = () =>
      totpApp({ users, store: new RedisStore({ client, prefix }), records, secret, sessionStore, options });
    return [make(), make()] as const;
  }

  async function sharedSession(a: Express) {
    const login = await request(a)
      .post('/login')
      .set('Authorization', basicHeader('alice', PASSWORDS.alice!));
    let cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
    // A login regenerates the session: the browser keeps the newest cookie, as a real one would.
    return async (app: Express, path: string, body: object = {}) => {
      const res = await request(app).post(path).set('Cookie', cookie).send(body);
      const renewed = res.headers['set-cookie'] as unknown as string[] | undefined;
      if (renewed?.[0]) cookie = renewed[0].split(';')[0]!;
      return res;
    };
  }

  async function enrolledOn(a: Express, b: Express) {
    const post = await sharedSession(a);
    const started = await post(a, '/totp/enroll');
    // Started on A, confirmed on B: the pending enrollment is in the shared store.
    expect((await post(b, '/totp/enroll/confirm', { code: codeNow(started.body.uri) })).status).to.equal(200);
    clock.tick(60_000);
    return { post, uri: started.body.uri as string };
  }

  it('TOTP replay: a code accepted on instance A is refused on instance B (401 replayed)', async () => {
    const [a, b] = twoInstances();
    const { post, uri } = await enrolledOn(a, b);
    const code = codeNow(uri);
    expect((await post(a, '/totp/verify', { code })).status).to.equal(200);
    const replay = await post(b, '/totp/verify', { code });
    expect(replay.status).to.equal(401);
    expect(replay.body.code).to.equal('replayed');
  });

  it('TOTP replay: 20 parallel submissions of one right code spread over both instances → exactly one 200', async () => {
    const [a, b] = twoInstances({ maxAttempts: 30 });
    const { post, uri } = await enrolledOn(a, b);
    const code = codeNow(uri);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(i % 2 ? a : b, '/totp/check', { code })),
    );
    expect(results.filter((r) => r.status === 200)).to.have.length(1);
    expect(results.filter((r) => r.status === 401 && r.body.code === 'replayed')).to.have.length(19);
  });

  it('TOTP lockout: wrong codes counted across both instances lock the user', async () => {
    const [a, b] = twoInstances({ maxAttempts: 4 });
    const { post, uri } = await enrolledOn(a, b);
    const wrong = otherThan(codeNow(uri));
    const statuses = [];
    for (const app of [a, b, a, b]) statuses.push((await post(app, '/totp/verify', { code: wrong })).status);
    expect(statuses).to.deep.equal([401, 401, 401, 429]);
    expect((await post(a, '/totp/verify', { code: codeNow(uri) })).body.code).to.equal('locked');
  });
});

describe('TOTP in the step-up journey (PartialLogin, RiskStepUp)', () => {
  let users: UserDirectory;
  let sandbox: Sandbox;
  let clock: sinon.SinonFakeTimers;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    users = await testUsers();
    sandbox = await startSandbox();
  });
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
  });
  afterEach(() => clock.restore());
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await sandbox.close();
  });

  function journeyApp() {
    const store = new MemoryStore();
    const records = createTotpRecords();
    const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
    passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
    const totp = new TotpStrategy({ issuer: 'Example', secret: randomBytes(32), store, ...records });
    passport.use(totp);
    const risc = new RiscStrategy({ ...sandbox.lastwall.credentials, store });
    closers.push(() => risc.client.close());
    passport.use(risc);
    const totpLogin = new PartialLogin({
      passport,
      name: 'totp',
      requiredFactors: [['basic-login', 'totp']],
    });
    const riskLogin = new PartialLogin({
      passport,
      name: 'risk',
      requiredFactors: [['basic-login', 'risc']],
    });
    const stepUp = new RiskStepUp({ login: riskLogin, risc });
    // Enrolling needs a full login (here: the password card's own journey is not used for it).
    const routes = totpHandlers(totp);
    app.post('/enroll-login', passport.authenticate('basic-login') as RequestHandler, (_req, res) =>
      res.json({ ok: true }),
    );
    app.post('/totp/enroll', routes.enroll);
    app.post('/totp/enroll/confirm', routes.confirm);
    app.post('/logout', (req, res, next) => req.logout((err) => (err ? next(err) : res.json({}))));
    app.post('/login', totpLogin.step('basic-login'));
    app.post('/login/totp', totpLogin.step('totp'));
    app.get('/me', totpLogin.requireFactors('totp'), (req, res) =>
      res.json({ user: (req.user as { id: string }).id }),
    );
    app.post('/risk/login', riskLogin.step('basic-login'));
    app.post('/risk/check', stepUp.check());
    app.post('/risk/step-up/totp', stepUp.completeWith('totp'));
    app.get('/risk/me', stepUp.requireCleared(), (req, res) =>
      res.json({ user: (req.user as { id: string }).id }),
    );
    app.use(jsonErrors);
    return app;
  }

  async function enrollAlice(app: Express): Promise<string> {
    const agent = request.agent(app);
    await agent.post('/enroll-login').set('Authorization', basicHeader('alice', PASSWORDS.alice!));
    const started = await agent.post('/totp/enroll').send({});
    await agent.post('/totp/enroll/confirm').send({ code: codeNow(started.body.uri) });
    clock.tick(60_000);
    return started.body.uri;
  }

  it('password, then TOTP: partial until the code, then complete with factors [basic-login, totp]', async () => {
    const app = journeyApp();
    const uri = await enrollAlice(app);
    const agent = request.agent(app);
    const first = await agent.post('/login').set('Authorization', basicHeader('alice', PASSWORDS.alice!));
    expect(first.body).to.deep.include({ status: 'partial', factors: ['basic-login'] });
    expect((await agent.get('/me')).status).to.equal(401);
    const wrong = await agent.post('/login/totp').send({ code: otherThan(codeNow(uri)) });
    expect(wrong.status).to.equal(401);
    expect(wrong.body.code).to.equal('invalid_code');
    const done = await agent.post('/login/totp').send({ code: codeNow(uri) });
    expect(done.status).to.equal(200);
    expect(done.body).to.deep.include({ status: 'complete', factors: ['basic-login', 'totp'] });
    expect((await agent.get('/me')).body).to.deep.equal({ user: 'u1' });
  });

  it('RISC risky → step up with a TOTP code → cleared, factors [basic-login, totp, risc]', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const app = journeyApp();
    const uri = await enrollAlice(app);
    const agent = request.agent(app);
    await agent.post('/risk/login').set('Authorization', basicHeader('alice', PASSWORDS.alice!));
    const risky = await agent
      .post('/risk/check')
      .send({ riscdata: sandbox.lastwall.snapshotFor('u1', 'browser-totp') });
    expect(risky.body).to.include({ code: 'risky', next: 'step-up' });
    expect((await agent.get('/risk/me')).status).to.equal(401);
    const stepped = await agent.post('/risk/step-up/totp').send({ code: codeNow(uri) });
    expect(stepped.status).to.equal(200);
    expect(stepped.body).to.deep.include({ status: 'passed', stepUp: 'totp' });
    expect(stepped.body.login).to.deep.include({
      status: 'complete',
      factors: ['basic-login', 'totp', 'risc'],
    });
    expect((await agent.get('/risk/me')).body).to.deep.equal({ user: 'u1' });
  });
});
