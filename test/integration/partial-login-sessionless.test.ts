import { createHash, randomBytes } from 'node:crypto';
import express from 'express';
import { expect } from 'chai';
import { Passport } from 'passport';
import sinon from 'sinon';
import request from 'supertest';
import {
  BasicLoginStrategy,
  ConfigurationError,
  RiscStrategy,
  SecSignStrategy,
  SmsOtpStrategy,
} from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { PartialLogin, type JourneyBinding, type StepOutcome } from '../../src/exports/partial-login.js';
import { RiskStepUp } from '../../src/exports/risc.js';
import { SipgateSmsSender, smsOtpHandlers } from '../../src/exports/sms-otp.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { basicHeader, jsonErrors, testUsers, type UserDirectory } from '../helpers/apps.js';

const ALICE = basicHeader('alice', 'correct horse battery staple');
const HEADER = 'x-login-id';

/** The journey id travels in a header: the page's script reads it from each answer and sends it back. */
const headerBinding: JourneyBinding = {
  get: (req) => {
    const id = req.headers[HEADER];
    return typeof id === 'string' ? id : undefined;
  },
  set: (res, id) => res.setHeader('X-Login-Id', id),
  clear: (res) => res.setHeader('X-Login-Id', ''),
};

describe('PartialLogin without express-session: a store-kept journey under ids it issues itself', () => {
  let sandbox: Sandbox;
  let users: UserDirectory;
  let sender: SipgateSmsSender;
  const closers: Array<() => Promise<void>> = [];

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

  /**
   * No session middleware at all. Password, then RISC (with an SMS or SecSign step-up when risky),
   * or password then an SMS code: [['basic-login', 'risc'], ['basic-login', 'sms-otp']] would let
   * an SMS code alone finish after a password, so the two policies are two journeys.
   */
  function journeyApp(options: { maxAgeSec?: number; factors?: string[][]; store?: MemoryStore } = {}) {
    const store = options.store ?? new MemoryStore();
    const app = express();
    const passport = new Passport();
    app.use(express.json());
    app.use(passport.initialize());
    passport.serializeUser((user: Express.User, done) => done(null, (user as { id: string }).id));
    passport.deserializeUser((id: string, done) => done(null, users.findById(id) ?? false));
    passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
    const risc = new RiscStrategy({ ...sandbox.lastwall.credentials, store });
    const sms = new SmsOtpStrategy({
      sender,
      store,
      secret: randomBytes(32),
      getPhoneNumber: (u) => (u as { phone?: string }).phone,
      getSessionId: headerBinding.get,
    });
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store,
        getSessionId: headerBinding.get,
      },
      (secsignId: string) =>
        (secsignId === 'alice' ? users.findById('u1') : secsignId === 'bob' ? users.findById('u2') : false) ??
        false,
    );
    closers.push(
      () => risc.client.close(),
      () => secsign.client.close(),
    );
    passport.use(risc);
    passport.use(sms);
    passport.use(secsign);
    const login = new PartialLogin({
      passport,
      requiredFactors: options.factors ?? [['basic-login', 'risc']],
      binding: headerBinding,
      store,
      ...(options.maxAgeSec ? { maxAgeSec: options.maxAgeSec } : {}),
    });
    const stepUp = new RiskStepUp({ login, risc, store });
    const withUser = {
      body: (outcome: StepOutcome, user: Express.User) => ({ ...outcome, user: (user as { id: string }).id }),
    };
    app.post('/login', login.step('basic-login'));
    app.post('/check', stepUp.check());
    app.post('/sms/send', login.requireFactors('basic-login'), smsOtpHandlers(sms).send);
    app.post('/sms', login.step('sms-otp', withUser));
    app.post('/step-up/sms', stepUp.completeWith('sms-otp'));
    app.post('/secsign/start', login.pendingUser(), secSignHandlers(secsign, { passport }).start);
    app.post('/secsign', login.step('secsign', withUser));
    app.post('/unlock', stepUp.sendUnlockEmail());
    app.post('/complete-now', (req, res, next) =>
      login
        .complete(req)
        .then(
          (done) =>
            res.json({ done, complete: login.isComplete(req), user: (req.user as { id?: string })?.id }),
          next,
        ),
    );
    app.post('/reset', (req, res, next) => login.reset(req).then(() => res.sendStatus(204), next));
    app.post('/data', (req, res, next) =>
      login
        .setJourneyData(req, 'note', (req.body as { note?: string }).note)
        .then(() => res.json({ note: login.journeyData(req, 'note') ?? null }), next),
    );
    app.get('/data', login.pendingUser(), (req, res) =>
      res.json({ note: login.journeyData(req, 'note') ?? null }),
    );
    app.get('/factors', login.pendingUser(), (req, res) =>
      res.json(login.factors(req).map((done) => done.factor)),
    );
    app.use(jsonErrors);
    return { app, login, store };
  }

  const idOf = (res: request.Response): string => {
    const id = res.headers[HEADER];
    expect(id, `a journey id in ${JSON.stringify(res.headers)}`)
      .to.be.a('string')
      .and.match(/^[\w-]{43}$/);
    return id as string;
  };

  async function password(app: express.Express, who = ALICE, id?: string) {
    const req = request(app).post('/login').set('Authorization', who);
    const res = await (id === undefined ? req : req.set(HEADER, id)).send({});
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return { res, id: idOf(res) };
  }

  const check = (app: express.Express, id: string, userId = 'u1', browser = 'browser-s') =>
    request(app)
      .post('/check')
      .set(HEADER, id)
      .send({ riscdata: sandbox.lastwall.snapshotFor(userId, browser) });

  async function smsCode(app: express.Express, id: string): Promise<string> {
    sandbox.inbox.clear();
    const sent = await request(app).post('/sms/send').set(HEADER, id).send({});
    expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
    return /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)![1]!;
  }

  it('password → SMS code completes without a session: req.user is set for that request, the state is gone', async () => {
    const { app } = journeyApp({ factors: [['basic-login', 'sms-otp']] });
    const first = await password(app);
    expect(first.res.body).to.deep.equal({
      status: 'partial',
      factors: ['basic-login'],
      remaining: [['sms-otp']],
    });
    expect(first.res.headers['set-cookie'], 'no session cookie').to.equal(undefined);
    expect((await request(app).get('/factors').set(HEADER, first.id)).body).to.deep.equal(['basic-login']);
    const code = await smsCode(app, first.id);
    const done = await request(app).post('/sms').set(HEADER, first.id).send({ code });
    expect(done.status, JSON.stringify(done.body)).to.equal(200);
    expect(done.body).to.deep.equal({
      status: 'complete',
      factors: ['basic-login', 'sms-otp'],
      remaining: [],
      user: 'u1',
    });
    expect(done.headers[HEADER], 'binding.clear ran').to.equal('');
    expect((await request(app).get('/factors').set(HEADER, first.id)).body).to.deep.equal([]);
  });

  it('password → RISC passed completes', async () => {
    sandbox.lastwall.setRisk('u1', 'passed');
    const { app } = journeyApp();
    const { id } = await password(app);
    const res = await check(app, id);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.deep.include({ status: 'passed', score: 12 });
    expect(res.body.login).to.deep.include({ status: 'complete', factors: ['basic-login', 'risc'] });
  });

  it('password → RISC risky → SMS step-up completes; every write hands out a new id', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const { app } = journeyApp();
    const first = await password(app);
    const risky = await check(app, first.id, 'u1', 'browser-risky');
    expect(risky.status).to.equal(401);
    expect(risky.body).to.include({ code: 'risky', next: 'step-up' });
    const second = idOf(risky);
    expect(second).to.not.equal(first.id);
    const code = await smsCode(app, second);
    const stepped = await request(app).post('/step-up/sms').set(HEADER, second).send({ code });
    expect(stepped.status, JSON.stringify(stepped.body)).to.equal(200);
    expect(stepped.body).to.deep.include({ status: 'passed', stepUp: 'sms-otp' });
    expect(stepped.body.login).to.deep.include({
      status: 'complete',
      factors: ['basic-login', 'sms-otp', 'risc'],
    });
  });

  it('an id planted before the password carries nothing: the journey issues its own', async () => {
    sandbox.lastwall.setRisk('u1', 'passed');
    const { app } = journeyApp();
    const planted = randomBytes(32).toString('base64url');
    // The victim's page sends the attacker's id with the password.
    const victim = await password(app, ALICE, planted);
    expect(victim.id).to.not.equal(planted);
    // The attacker's id has no pending user: no risk check, no code, no factors.
    const attack = await check(app, planted);
    expect(attack.status).to.equal(409);
    expect(attack.body.code).to.equal('no_pending_challenge');
    expect((await request(app).post('/sms/send').set(HEADER, planted).send({})).status).to.equal(401);
    expect((await request(app).get('/factors').set(HEADER, planted)).body).to.deep.equal([]);
    // The victim goes on with the id the journey issued.
    expect((await check(app, victim.id)).body.login).to.deep.include({ status: 'complete' });
  });

  it('an old id after a rotation gets nothing', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const { app } = journeyApp();
    const first = await password(app);
    const risky = await check(app, first.id, 'u1', 'browser-old');
    const second = idOf(risky);
    expect((await request(app).get('/factors').set(HEADER, first.id)).body).to.deep.equal([]);
    expect((await request(app).post('/sms/send').set(HEADER, first.id).send({})).status).to.equal(401);
    const replay = await request(app).post('/step-up/sms').set(HEADER, first.id).send({ code: '123456' });
    expect(replay.status).to.equal(409);
    expect(replay.body.code).to.equal('no_pending_challenge');
    expect((await request(app).get('/factors').set(HEADER, second)).body).to.deep.equal(['basic-login']);
  });

  it('another user’s factor does not add up with ours', async () => {
    const { app } = journeyApp({ factors: [['basic-login', 'secsign']] });
    const alice = await password(app);
    // Bob approves a push started under alice’s journey id.
    const started = await request(app)
      .post('/secsign/start')
      .set(HEADER, alice.id)
      .send({ secsignid: 'bob' });
    expect(started.status, JSON.stringify(started.body)).to.equal(200);
    sandbox.secsign.approve('bob');
    const push = await request(app).post('/secsign').set(HEADER, alice.id).send({});
    expect(push.status, JSON.stringify(push.body)).to.equal(200);
    expect(push.body).to.deep.include({ status: 'partial', factors: ['secsign'], user: 'u2' });
    // Alice's journey is over: her id carries nothing, the new id carries bob's push alone.
    expect((await request(app).get('/factors').set(HEADER, alice.id)).body).to.deep.equal([]);
    expect((await request(app).get('/factors').set(HEADER, idOf(push))).body).to.deep.equal(['secsign']);
  });

  it('two concurrent completions on one id: exactly one completes, the other is refused', async () => {
    sandbox.lastwall.setRisk('u1', 'passed');
    const { app } = journeyApp();
    const { id } = await password(app);
    const answers = await Promise.all([check(app, id, 'u1', 'browser-x'), check(app, id, 'u1', 'browser-y')]);
    const complete = answers.filter((res) => res.status === 200 && res.body.login?.status === 'complete');
    expect(complete, JSON.stringify(answers.map((res) => res.body))).to.have.length(1);
    const other = answers.find((res) => !complete.includes(res))!;
    expect(other.status).to.equal(409);
    expect(other.body.code).to.equal('no_pending_challenge');
  });

  it('setJourneyData is a write like a factor’s: a new id, the old one empty; of two concurrent writes on one id one lands, the other is 409', async () => {
    const { app } = journeyApp();
    const { id } = await password(app);
    const written = await request(app).post('/data').set(HEADER, id).send({ note: 'first' });
    expect(written.status, JSON.stringify(written.body)).to.equal(200);
    const next = idOf(written);
    expect(next).not.to.equal(id);
    expect((await request(app).get('/data').set(HEADER, next)).body).to.deep.equal({ note: 'first' });
    expect((await request(app).get('/data').set(HEADER, id)).body).to.deep.equal({ note: null });
    const answers = await Promise.all(
      ['a', 'b'].map((note) => request(app).post('/data').set(HEADER, next).send({ note })),
    );
    // Exactly one lands. The other lands nothing: 409 when both read the state before either
    // moved it, else it finds no journey under the old id (no write, no new id).
    const landed = answers.filter((res) => res.status === 200 && res.body.note !== null);
    expect(landed, JSON.stringify(answers.map((res) => [res.status, res.body]))).to.have.length(1);
    const other = answers.find((res) => res !== landed[0])!;
    if (other.status === 409) expect(other.body.code).to.equal('no_pending_challenge');
    else
      expect([other.status, other.body, other.headers[HEADER]]).to.deep.equal([
        200,
        { note: null },
        undefined,
      ]);
    expect((await request(app).get('/data').set(HEADER, idOf(landed[0]!))).body).to.deep.equal({
      note: landed[0]!.body.note,
    });
    expect((await request(app).get('/data').set(HEADER, next)).body).to.deep.equal({ note: null });
  });

  it('a partial login older than maxAgeSec is refused', async () => {
    const clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
    try {
      sandbox.lastwall.setRisk('u1', 'passed');
      const { app } = journeyApp({ maxAgeSec: 60 });
      const { id } = await password(app);
      clock.tick(61_000);
      expect((await request(app).get('/factors').set(HEADER, id)).body).to.deep.equal([]);
      const late = await check(app, id);
      expect(late.status).to.equal(409);
      expect(late.body.code).to.equal('no_pending_challenge');
    } finally {
      clock.restore();
    }
  });

  it('a corrupt or foreign record under the id, or an overlong id, counts as no state', async () => {
    const { app, store } = journeyApp();
    const keyOf = (id: string) =>
      `partial-login:login:${createHash('sha256').update(id).digest('base64url')}`;
    const started = Math.floor(Date.now());
    const records = [
      'not json',
      JSON.stringify({ journey: 'login', user: 'u1', factors: 'basic-login', complete: false }),
      JSON.stringify({
        journey: 'other',
        user: 'u1',
        factors: [{ factor: 'basic-login', at: 1 }],
        complete: false,
        startedAt: started,
        data: {},
      }),
      JSON.stringify({
        journey: 'login',
        user: 'u1',
        factors: [{ factor: 'basic-login', at: 1 }],
        complete: true,
        startedAt: started,
        data: {},
      }),
    ];
    for (const record of records) {
      const id = randomBytes(32).toString('base64url');
      await store.set(keyOf(id), record, 60_000);
      expect((await request(app).get('/factors').set(HEADER, id)).body, record).to.deep.equal([]);
      expect((await check(app, id)).status, record).to.equal(409);
    }
    const long = 'a'.repeat(1025);
    await store.set(
      keyOf(long),
      JSON.stringify({
        journey: 'login',
        user: 'u1',
        factors: [{ factor: 'basic-login', at: 1 }],
        complete: false,
        startedAt: started,
        data: {},
      }),
      60_000,
    );
    expect((await request(app).get('/factors').set(HEADER, long)).body).to.deep.equal([]);
  });

  it('failed → the unlock email goes out for the pending user; an old id gets no email', async () => {
    sandbox.lastwall.setRisk('u1', 'failed');
    const { app } = journeyApp();
    const first = await password(app);
    const failed = await check(app, first.id, 'u1', 'browser-unlock');
    expect(failed.body).to.include({ code: 'failed_risk', next: 'unlock' });
    const current = idOf(failed);
    const stale = await request(app).post('/unlock').set(HEADER, first.id).send({});
    expect(stale.status).to.equal(409);
    expect(stale.body.code).to.equal('no_pending_challenge');
    const sent = await request(app).post('/unlock').set(HEADER, current).send({});
    expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
    expect(sent.body).to.deep.equal({ sent: true });
  });

  it('complete(req) logs the pending user in for that request and consumes the state; reset(req) forgets it', async () => {
    const { app } = journeyApp();
    expect((await request(app).post('/complete-now').send({})).body).to.deep.equal({
      done: false,
      complete: false,
    });
    const first = await password(app);
    const done = await request(app).post('/complete-now').set(HEADER, first.id).send({});
    expect(done.body).to.deep.equal({ done: true, complete: true, user: 'u1' });
    expect(done.headers[HEADER], 'binding.clear ran').to.equal('');
    expect((await request(app).post('/complete-now').set(HEADER, first.id).send({})).body.done).to.equal(
      false,
    );
    const second = await password(app);
    expect((await request(app).post('/reset').set(HEADER, second.id).send({})).status).to.equal(204);
    expect((await request(app).get('/factors').set(HEADER, second.id)).body).to.deep.equal([]);
  });

  it('options are validated with messages that name them', () => {
    const passport = new Passport();
    const base = { passport, requiredFactors: [['a', 'b']] };
    expect(() => new PartialLogin({ ...base, binding: headerBinding })).to.throw(
      ConfigurationError,
      /`store`/,
    );
    expect(() => new PartialLogin({ ...base, store: new MemoryStore() })).to.throw(
      ConfigurationError,
      /binding/,
    );
    expect(
      () =>
        new PartialLogin({ ...base, store: new MemoryStore(), binding: { get: headerBinding.get } as never }),
    ).to.throw(ConfigurationError, /binding\.set/);
    expect(
      () =>
        new PartialLogin({
          ...base,
          store: new MemoryStore(),
          binding: { ...headerBinding, clear: 1 } as never,
        }),
    ).to.throw(ConfigurationError, /binding\.clear/);
    const login = new PartialLogin({ ...base, store: new MemoryStore(), binding: headerBinding });
    expect(login.sessionless).to.equal(true);
    expect(() => login.requireFactors()).to.throw(ConfigurationError, /requireFactors/);
  });
});
