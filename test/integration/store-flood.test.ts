import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import {
  BasicLoginStrategy,
  RiscStrategy,
  SecSignStrategy,
  SmsOtpStrategy,
  XignInStrategy,
  XTokenStrategy,
} from '../../src/index.js';
import { smsOtpHandlers } from '../../src/exports/sms-otp.js';
import { xTokenHandlers } from '../../src/exports/x-token.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { createExampleApp } from '../../example-app/app.js';
import { appWithPassport, basicHeader, decidingRoute, jsonErrors, testUsers } from '../helpers/apps.js';

const REDIRECT = 'http://rp.example.test/xignin/callback';
const SECRET = 'flood-test-client-secret';

/** A client address per request: with `trust proxy`, Express takes req.ip from X-Forwarded-For. */
const ipOf = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

describe('U5: a flood of unauthenticated pending state against a bounded MemoryStore, over HTTP', function () {
  this.timeout(30_000);
  let sandbox: Sandbox;
  const closers: Array<() => Promise<unknown>> = [];

  before(async () => {
    sandbox = await startSandbox({ secsign: { knownIds: ['alice', 'bob'] } });
    sandbox.xignin.registerClient({ clientId: 'rp-flood', clientSecret: SECRET, redirectUris: [REDIRECT] });
  });
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await sandbox.close();
  });

  /** Every strategy that keeps state, on ONE small MemoryStore, as an app with the default store would. */
  async function floodApp(maxEntries: number, startLimit?: { points: number; durationSec: number }) {
    const store = new MemoryStore({ maxEntries });
    closers.push(() => store.close());
    const users = await testUsers();
    const { app, passport } = appWithPassport();
    app.set('trust proxy', true);
    passport.use(new BasicLoginStrategy({ store }, (u, p) => users.checkPassword(u, p)));
    const xToken = new XTokenStrategy(
      { secret: randomBytes(32), store },
      (payload) => users.findById(payload.sub) ?? false,
    );
    passport.use(xToken);
    const risc = new RiscStrategy({ ...sandbox.lastwall.credentials, store });
    closers.push(() => risc.client.close());
    passport.use(risc);
    const xignin = new XignInStrategy(
      {
        managerUrl: sandbox.xignin.issuer,
        clientId: 'rp-flood',
        clientSecret: SECRET,
        redirectUri: REDIRECT,
        store,
        ...(startLimit ? { startLimit } : {}),
      },
      (claims) => ({ id: claims.sub }),
    );
    closers.push(() => xignin.client.close());
    passport.use(xignin);
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Flood test',
        serviceAddress: 'http://rp.example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store,
        ...(startLimit ? { startLimit } : {}),
      },
      (id) => ({ id }),
    );
    passport.use(secsign);

    app.post('/api/auth/login', xTokenHandlers(xToken, { passport }).login);
    app.get('/api/secret', xTokenHandlers(xToken, { passport }).protect, (_req, res) => {
      res.json({ ok: true });
    });
    // RISC runs after the first factor: the test names the logged-in user.
    app.post(
      '/risc/check',
      (req, _res, next) => {
        req.user = { id: String(req.get('x-test-user')) };
        next();
      },
      decidingRoute(passport, 'risc'),
    );
    app.get('/xignin/login', passport.authenticate('xignin'));
    app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
    app.use(jsonErrors);
    return { app, store };
  }

  const login = async (app: Express, username: string, password: string) => {
    const res = await request(app)
      .post('/api/auth/login')
      .set('Authorization', basicHeader(username, password));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.headers['x-token'] as string;
  };

  it('U5: new pending state gets 503 once the store is full; live X-Token families still work and a used RISC snapshot stays used', async () => {
    const maxEntries = 40;
    const { app, store } = await floodApp(maxEntries);
    const tokens = [
      await login(app, 'alice', 'correct horse battery staple'),
      await login(app, 'bob', 'pa:ss with a colon'),
      await login(app, 'alice', 'correct horse battery staple'),
    ];
    sandbox.lastwall.setRisk('flood-user', 'passed');
    const snapshot = sandbox.lastwall.snapshotFor('flood-user', 'flood-browser');
    const check = () =>
      request(app).post('/risc/check').set('x-test-user', 'flood-user').send({ riscdata: snapshot });
    expect((await check()).status, 'the snapshot passes once').to.equal(200);
    expect((await check()).body.code, 'and is refused when replayed').to.equal('failed_risk');

    // 300 clients, one start each (so no per-client limit applies), XignIn redirects and SecSign starts.
    const statuses: number[] = [];
    const bodies: unknown[] = [];
    for (let n = 0; n < 300; n++) {
      const res =
        n % 3 === 0
          ? await request(app)
              .post('/secsign/start')
              .set('X-Forwarded-For', ipOf(n))
              .send({ secsignid: 'bob' })
          : await request(app).get('/xignin/login').set('X-Forwarded-For', ipOf(n));
      statuses.push(res.status);
      if (res.status === 503) bodies.push(res.body);
    }
    // Nobody was logged out, and the used snapshot is still used.
    for (const token of tokens) {
      const res = await request(app).get('/api/secret').set('X-Token', token);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
    const replay = await check();
    expect(replay.status).to.equal(401);
    expect(replay.body.code).to.equal('failed_risk');
    const count = (status: number) => statuses.filter((s) => s === status).length;
    expect(count(503), `statuses: ${statuses.join(',')}`).to.be.greaterThan(250);
    expect(count(500), 'never a 500').to.equal(0);
    expect(bodies[0]).to.include({ code: 'ERR_STORE_FULL' });
    expect(String((bodies[0] as { error: string }).error)).to.match(/busy/);
    expect(store.size).to.be.at.most(maxEntries);
  });

  it('U5: one client flooding the start routes gets 429 rate_limited with Retry-After; another client still starts', async () => {
    const { app } = await floodApp(10_000, { points: 5, durationSec: 60 });
    const statuses: number[] = [];
    for (let n = 0; n < 20; n++) {
      statuses.push((await request(app).get('/xignin/login').set('X-Forwarded-For', '203.0.113.7')).status);
    }
    expect(statuses.slice(0, 5)).to.deep.equal([302, 302, 302, 302, 302]);
    expect(
      statuses.slice(5).every((s) => s === 429),
      statuses.join(','),
    ).to.equal(true);
    const limited = await request(app).get('/xignin/login').set('X-Forwarded-For', '203.0.113.7');
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers['retry-after'])).to.be.within(1, 60);

    const starts: number[] = [];
    for (let n = 0; n < 8; n++) {
      const res = await request(app)
        .post('/secsign/start')
        .set('X-Forwarded-For', '203.0.113.8')
        .send({ secsignid: n % 2 ? 'alice' : 'bob' });
      starts.push(res.status);
      if (res.status === 429) expect(res.body).to.include({ code: 'rate_limited' });
    }
    expect(starts.filter((s) => s === 429).length, starts.join(',')).to.equal(3);
    expect((await request(app).get('/xignin/login').set('X-Forwarded-For', '203.0.113.9')).status).to.equal(
      302,
    );
  });

  it('U5: passwordless SMS sends from one client are limited per client whoever they name (429), another client still sends', async () => {
    const store = new MemoryStore();
    closers.push(() => store.close());
    let texts = 0;
    const { app, passport } = appWithPassport();
    app.set('trust proxy', true);
    const sms = new SmsOtpStrategy({
      sender: { send: async () => void texts++ },
      store,
      getPhoneNumber: (user) => (user as { phone: string }).phone,
      identify: {
        fromRequest: (req) => ({
          identifier: String(req.body.email),
          user: { id: String(req.body.email), phone: '+4915790000099' },
        }),
        byId: (id) => ({ id }),
      },
      maxSendsPerClient: 3,
    });
    passport.use(sms);
    app.post('/passwordless/send', smsOtpHandlers(sms).send);
    app.use(jsonErrors);
    const statuses: number[] = [];
    for (let n = 0; n < 6; n++) {
      const res = await request(app)
        .post('/passwordless/send')
        .set('X-Forwarded-For', '198.51.100.4')
        .send({ email: `victim${n}@example.test` });
      statuses.push(res.status);
    }
    expect(statuses).to.deep.equal([202, 202, 202, 429, 429, 429]);
    const other = await request(app)
      .post('/passwordless/send')
      .set('X-Forwarded-For', '198.51.100.5')
      .send({ email: 'someone@example.test' });
    expect(other.status).to.equal(202);
    await new Promise((resolve) => setTimeout(resolve, 50)); // passwordless texts go out after the answer
    expect(texts).to.equal(4);
  });

  it('U5: the example app answers a full store with 503 "The server is busy", never a 500', async () => {
    const app = await createExampleApp({
      sandbox,
      store: new MemoryStore({ maxEntries: 20 }),
      scryptCost: 2 ** 10,
    });
    app.set('trust proxy', true);
    const statuses: number[] = [];
    let busy: request.Response | undefined;
    for (let n = 0; n < 60; n++) {
      const res = await request(app).get('/xignin/login').set('X-Forwarded-For', ipOf(n));
      statuses.push(res.status);
      if (res.status === 503) busy = res;
    }
    expect(statuses).to.not.include(500);
    expect(busy, statuses.join(',')).to.not.equal(undefined);
    expect(busy!.body).to.deep.equal({ error: 'The server is busy. Try again in a moment.' });
    expect(busy!.headers['retry-after']).to.equal('30');
  });
});
