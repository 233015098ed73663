import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import {
  BasicLoginStrategy,
  ConfigurationError,
  RiscStrategy,
  SecSignStrategy,
  SmsOtpStrategy,
} from '../../src/index.js';
import { smsOtpHandlers } from '../../src/exports/sms-otp.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { PartialLogin } from '../../src/exports/partial-login.js';
import { RiskStepUp } from '../../src/exports/risc.js';
import { SipgateSmsSender } from '../../src/exports/sms-otp.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, basicHeader, jsonErrors, testUsers, type UserDirectory } from '../helpers/apps.js';

describe('RiskStepUp: password → RISC → step-up or unlock, over HTTP', () => {
  let sandbox: Sandbox;
  let users: UserDirectory;
  let sender: SipgateSmsSender;
  const closers: Array<() => Promise<void>> = [];
  const events: Array<{ type: string }> = [];

  before(async () => {
    sandbox = await startSandbox();
    users = await testUsers();
    sender = new SipgateSmsSender(sandbox.sipgate.credentials);
  });
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await sender.close();
    await sandbox.close();
  });

  function journeyApp(
    stepUpOptions: Partial<ConstructorParameters<typeof RiskStepUp>[0]> = {},
    names: { risc: string; secsign: string } = { risc: 'risc', secsign: 'secsign' },
  ) {
    const store = new MemoryStore();
    const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
    passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
    const risc = new RiscStrategy({ ...sandbox.lastwall.credentials, store });
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store,
      },
      (secsignId: string) =>
        (secsignId === 'alice' ? users.findById('u1') : secsignId === 'bob' ? users.findById('u2') : false) ??
        false,
    );
    closers.push(
      () => risc.client.close(),
      () => secsign.client.close(),
    );
    passport.use(names.risc, risc);
    passport.use(names.secsign, secsign);
    const sms = new SmsOtpStrategy({
      sender,
      store,
      secret: randomBytes(32),
      getPhoneNumber: (u) => (u as { phone?: string }).phone,
    });
    passport.use(sms);
    const login = new PartialLogin({ passport, requiredFactors: [['basic-login', names.risc]] });
    const stepUp = new RiskStepUp({
      login,
      risc,
      ...(names.risc === 'risc' ? {} : { riscName: names.risc }),
      getEmail: (user) => `${(user as { username: string }).username}@app.example`,
      onEvent: (event) => events.push(event),
      ...stepUpOptions,
    });
    app.post('/login', login.step('basic-login'));
    app.post('/check', stepUp.check());
    app.post('/sms/send', login.pendingUser(), smsOtpHandlers(sms).send);
    app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
    app.post('/step-up/sms', stepUp.completeWith('sms-otp'));
    app.post('/step-up/secsign', stepUp.completeWith(names.secsign));
    app.post('/unlock', stepUp.sendUnlockEmail());
    app.get('/me', stepUp.requireCleared(), (req, res) =>
      res.json({ user: (req.user as { id: string }).id }),
    );
    // What an app guards with Passport alone.
    app.get('/account', (req, res) =>
      req.isAuthenticated() ? res.json({ user: (req.user as { id: string }).id }) : res.sendStatus(401),
    );
    app.use(jsonErrors);
    return app;
  }

  async function passwordThenCheck(
    agent: ReturnType<typeof request.agent>,
    who: string,
    password: string,
    browser: string,
  ) {
    expect((await agent.post('/login').set('Authorization', basicHeader(who, password))).status).to.equal(
      200,
    );
    const userId = who === 'alice' ? 'u1' : 'u2';
    return agent.post('/check').send({ riscdata: sandbox.lastwall.snapshotFor(userId, browser) });
  }

  it('passed → cleared at once', async () => {
    sandbox.lastwall.setRisk('u1', 'passed');
    const agent = request.agent(journeyApp());
    const res = await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-a');
    expect(res.body).to.deep.include({ status: 'passed', score: 12 });
    expect(res.body.login).to.deep.include({ status: 'complete', factors: ['basic-login', 'risc'] });
    expect((await agent.get('/me')).body).to.deep.equal({ user: 'u1' });
    expect((await agent.get('/account')).body).to.deep.equal({ user: 'u1' });
  });

  it('risky → not cleared → SMS code → cleared, and the next check from that browser passes (preauth)', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const app = journeyApp();
    const agent = request.agent(app);
    const risky = await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-b');
    expect(risky.body).to.include({ code: 'risky', next: 'step-up' });
    expect((await agent.get('/me')).status, 'not cleared yet').to.equal(401);
    sandbox.inbox.clear();
    expect((await agent.post('/sms/send').send({})).status).to.equal(202);
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)![1];
    const stepped = (await agent.post('/step-up/sms').send({ code })).body;
    expect(stepped).to.deep.include({ status: 'passed', stepUp: 'sms-otp' });
    expect(stepped.login).to.deep.include({
      status: 'complete',
      factors: ['basic-login', 'sms-otp', 'risc'],
    });
    expect((await agent.get('/me')).status).to.equal(200);
    // The next login from the same browser: the dial still says risky, preauth makes it pass.
    const again = await passwordThenCheck(
      request.agent(app),
      'alice',
      'correct horse battery staple',
      'browser-b',
    );
    expect(again.body).to.deep.include({ status: 'passed', score: 0 });
  });

  it('under registered names of its own (risc as spot-check, secsign as phone-push): check, step-up and guard work', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const agent = request.agent(journeyApp({}, { risc: 'spot-check', secsign: 'phone-push' }));
    const risky = await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-n');
    expect(risky.status, JSON.stringify(risky.body)).to.equal(401);
    expect(risky.body).to.include({ code: 'risky', next: 'step-up' });
    await agent.post('/secsign/start').send({ secsignid: 'alice' });
    sandbox.secsign.approve('alice');
    const stepped = await agent.post('/step-up/secsign').send({});
    expect(stepped.status, JSON.stringify(stepped.body)).to.equal(200);
    expect(stepped.body).to.deep.include({ status: 'passed', stepUp: 'phone-push' });
    expect(stepped.body.login).to.deep.include({
      status: 'complete',
      factors: ['basic-login', 'phone-push', 'spot-check'],
    });
    expect((await agent.get('/me')).status).to.equal(200);
  });

  it('`respond` writes every answer of the journey', async () => {
    sandbox.lastwall.setRisk('u1', 'passed');
    const agent = request.agent(
      journeyApp({
        respond: (res, status, body) => {
          res.statusCode = status;
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ wrapped: body }));
        },
      }),
    );
    expect((await agent.post('/unlock').send({})).body.wrapped).to.include({ code: 'no_pending_challenge' });
    const res = await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-r');
    expect(res.status).to.equal(200);
    expect(res.body.wrapped).to.deep.include({ status: 'passed', score: 12 });
  });

  it('a second factor of ANOTHER account does not clear the step-up', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const agent = request.agent(journeyApp());
    await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-c');
    await agent.post('/secsign/start').send({ secsignid: 'bob' });
    sandbox.secsign.approve('bob');
    const res = await agent.post('/step-up/secsign').send({});
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('invalid_credentials');
    expect((await agent.get('/me')).status).to.equal(401);
  });

  it('failed → unlock email → following the link → the next check passes', async () => {
    sandbox.lastwall.setRisk('u2', 'failed');
    const agent = request.agent(journeyApp());
    const failed = await passwordThenCheck(agent, 'bob', 'pa:ss with a colon', 'browser-d');
    expect(failed.body).to.include({ code: 'failed_risk', next: 'unlock' });
    expect(
      (await agent.post('/step-up/sms').send({ code: '000000' })).status,
      'no step-up for failed',
    ).to.equal(409);
    expect((await agent.post('/unlock').send({})).status).to.equal(202);
    const link = /(https?:\/\/\S+)/.exec((await sandbox.inbox.waitFor('bob@app.example')).text)![1]!;
    await request(link).get('');
    const retry = await agent
      .post('/check')
      .send({ riscdata: sandbox.lastwall.snapshotFor('u2', 'browser-d') });
    expect(retry.body).to.deep.include({ status: 'passed', score: 0 });
  });

  /** The session id the server set in this answer (express-session's signed cookie), if any. */
  const sessionCookie = (res: request.Response): string | undefined =>
    ([] as string[])
      .concat(res.headers['set-cookie'] ?? [])
      .find((cookie) => cookie.startsWith('connect.sid='))
      ?.split(';')[0];

  it('U1: after the password alone, a route guarded by req.isAuthenticated() or the library guard refuses', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const agent = request.agent(journeyApp());
    const password = await agent
      .post('/login')
      .set('Authorization', basicHeader('alice', 'correct horse battery staple'));
    expect(password.body).to.deep.include({ status: 'partial', factors: ['basic-login'] });
    expect(password.body.remaining).to.deep.equal([['risc']]);
    expect((await agent.get('/account')).status, 'req.isAuthenticated()').to.equal(401);
    const guarded = await agent.get('/me');
    expect(guarded.status).to.equal(401);
    expect(guarded.body).to.deep.equal({
      error: 'Finish logging in first.',
      code: 'factors_required',
      missing: ['risc'],
    });
    // A risky check is no login either.
    await agent.post('/check').send({ riscdata: sandbox.lastwall.snapshotFor('u1', 'browser-u1') });
    expect((await agent.get('/account')).status, 'after a risky check').to.equal(401);
  });

  it('U2: the session id changes at the password step, at the RISC pass and at the second factor; old ids are worth nothing', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const app = journeyApp();
    const agent = request.agent(app);
    expect((await agent.post('/check').send({})).status, 'no check before the password').to.equal(409);
    // A session that exists before the password step, as an attacker would plant it.
    const planted = sessionCookie(
      await agent.post('/login').set('Authorization', basicHeader('bob', 'pa:ss with a colon')),
    )!;
    const password = await agent
      .post('/login')
      .set('Authorization', basicHeader('alice', 'correct horse battery staple'));
    const afterPassword = sessionCookie(password);
    expect(afterPassword, 'a new id at the password step').to.be.a('string').and.not.equal(planted);
    expect(
      (await request(app).post('/sms/send').set('Cookie', planted)).status,
      'the planted id',
    ).to.not.equal(202);
    const risky = await agent
      .post('/check')
      .send({ riscdata: sandbox.lastwall.snapshotFor('u1', 'browser-u2') });
    expect(risky.body.code).to.equal('risky');
    sandbox.inbox.clear();
    expect((await agent.post('/sms/send').send({})).status).to.equal(202);
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)![1];
    const stepped = await agent.post('/step-up/sms').send({ code });
    expect(stepped.status).to.equal(200);
    const afterStepUp = sessionCookie(stepped);
    expect(afterStepUp, 'a new id at the second factor').to.be.a('string').and.not.equal(afterPassword);
    expect(
      (await request(app).get('/account').set('Cookie', afterPassword!)).status,
      'the pre-elevation id',
    ).to.equal(401);
    expect((await request(app).get('/account').set('Cookie', afterStepUp!)).status).to.equal(200);

    // The RISC pass is an elevation of its own.
    sandbox.lastwall.setRisk('u1', 'passed');
    const second = request.agent(app);
    const pw = await second
      .post('/login')
      .set('Authorization', basicHeader('alice', 'correct horse battery staple'));
    const beforeCheck = sessionCookie(pw)!;
    const passed = await second
      .post('/check')
      .send({ riscdata: sandbox.lastwall.snapshotFor('u1', 'browser-u2b') });
    expect(passed.status).to.equal(200);
    const afterCheck = sessionCookie(passed);
    expect(afterCheck, 'a new id at the RISC pass').to.be.a('string').and.not.equal(beforeCheck);
    expect((await request(app).get('/account').set('Cookie', beforeCheck)).status).to.equal(401);
  });

  it('U3: the unlock email goes to the address on the account, never to one in the body, and is throttled per user and per browser', async () => {
    sandbox.lastwall.setRisk('u2', 'failed');
    events.length = 0;
    const app = journeyApp({
      unlockLimitPerUser: { points: 3, durationSec: 3600 },
      unlockLimitPerBrowser: { points: 2, durationSec: 3600 },
    });
    const agent = request.agent(app);
    const failed = await passwordThenCheck(agent, 'bob', 'pa:ss with a colon', 'browser-u3');
    expect(failed.body.next).to.equal('unlock');
    sandbox.inbox.clear();
    const sent = await agent.post('/unlock').send({ email: 'attacker@evil.example' });
    expect(sent.status).to.equal(202);
    expect((await sandbox.inbox.waitFor('bob@app.example')).text).to.match(/https?:\/\//);
    expect(sandbox.inbox.to('attacker@evil.example'), 'nothing to the address in the body').to.have.length(0);
    expect(events.map((event) => event.type)).to.include('risk.unlock_sent');
    // Per browser: 2 an hour.
    expect((await agent.post('/unlock').send({})).status).to.equal(202);
    const third = await agent.post('/unlock').send({});
    expect(third.status).to.equal(429);
    expect(third.body.code).to.equal('rate_limited');
    expect(Number(third.headers['retry-after'])).to.be.greaterThan(0);
    expect(events.map((event) => event.type)).to.include('risk.unlock_refused');
    expect(sandbox.inbox.to('bob@app.example')).to.have.length(2);
  });

  it('U3: per user across browsers, and no unlock for a session whose check did not fail', async () => {
    sandbox.lastwall.setRisk('u2', 'failed');
    const app = journeyApp({ unlockLimitPerUser: { points: 2, durationSec: 3600 } });
    const answers: number[] = [];
    for (const browser of ['u3-a', 'u3-b', 'u3-c']) {
      const agent = request.agent(app);
      await passwordThenCheck(agent, 'bob', 'pa:ss with a colon', browser);
      answers.push((await agent.post('/unlock').send({})).status);
    }
    expect(answers).to.deep.equal([202, 202, 429]);
    const fresh = request.agent(app);
    expect((await fresh.post('/unlock').send({ email: 'attacker@evil.example' })).status).to.equal(409);
  });

  it('U4: the journey’s POST handlers refuse another site’s request; nothing is emailed', async () => {
    sandbox.lastwall.setRisk('u2', 'failed');
    const app = journeyApp();
    const agent = request.agent(app);
    await passwordThenCheck(agent, 'bob', 'pa:ss with a colon', 'browser-u4');
    sandbox.inbox.clear();
    for (const path of ['/unlock', '/check', '/step-up/sms']) {
      const res = await agent
        .post(path)
        .set('Origin', 'https://evil.example')
        .set('Content-Type', 'text/plain')
        .send('riscdata=x');
      expect(res.status, path).to.equal(403);
      expect(res.body.code, path).to.equal('cross_origin');
    }
    const bodiless = await agent.post('/unlock');
    expect(bodiless.status, 'no Origin, no JSON').to.equal(403);
    expect(sandbox.inbox.to('bob@app.example')).to.have.length(0);
    const own = await agent.post('/unlock').set('Sec-Fetch-Site', 'same-origin');
    expect(own.status).to.equal(202);
  });

  it('options are validated with messages that name them', () => {
    const { passport } = appWithPassport();
    const login = new PartialLogin({ passport, requiredFactors: [['basic-login', 'risc']] });
    const risc = new RiscStrategy({ ...sandbox.lastwall.credentials });
    closers.push(() => risc.client.close());
    expect(
      () => new RiskStepUp({ login, risc, unlockLimitPerUser: { points: 0, durationSec: 60 } }),
    ).to.throw(ConfigurationError, /unlockLimitPerUser\.points/);
    expect(() => new RiskStepUp({ login, risc, unlockLimitPerBrowser: 3 as never })).to.throw(
      ConfigurationError,
      /unlockLimitPerBrowser/,
    );
    expect(() => new RiskStepUp({ login: {} as never, risc })).to.throw(ConfigurationError, /login/);
    expect(() => new RiskStepUp({ login, risc, riscName: '' })).to.throw(ConfigurationError, /riscName/);
    expect(() => new RiskStepUp({ login, risc, respond: 'json' as never })).to.throw(
      ConfigurationError,
      /respond/,
    );
    expect(() => new RiskStepUp({ login, risc, allowedOrigins: ['not a url'] })).to.throw(
      ConfigurationError,
      /allowedOrigins/,
    );
  });
});
