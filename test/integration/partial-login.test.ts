import { expect } from 'chai';
import sinon from 'sinon';
import request from 'supertest';
import { BasicLoginStrategy, ConfigurationError, SecSignStrategy } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { PartialLogin, type PartialLoginEvent } from '../../src/exports/partial-login.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, basicHeader, jsonErrors, testUsers, type UserDirectory } from '../helpers/apps.js';

const ALICE = basicHeader('alice', 'correct horse battery staple');
const BOB = basicHeader('bob', 'pa:ss with a colon');

describe('PartialLogin: factors apart from Passport’s user, over HTTP', () => {
  let sandbox: Sandbox;
  let users: UserDirectory;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    sandbox = await startSandbox();
    users = await testUsers();
  });
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await sandbox.close();
  });

  /** Password, then a SecSign push: [['basic-login', 'secsign']]. */
  function journeyApp(options: { maxAgeSec?: number; events?: PartialLoginEvent[] } = {}) {
    const store = new MemoryStore();
    const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
    passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store,
      },
      (secsignId: string) => users.findBySecSignId(secsignId) ?? false,
    );
    closers.push(() => secsign.client.close());
    passport.use(secsign);
    const login = new PartialLogin({
      passport,
      requiredFactors: [['basic-login', 'secsign']],
      ...(options.maxAgeSec ? { maxAgeSec: options.maxAgeSec } : {}),
      onEvent: (event) => options.events?.push(event),
    });
    app.post('/login', login.step('basic-login'));
    app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
    app.post('/secsign/complete', login.step('secsign'));
    app.post('/complete-now', (req, res, next) =>
      login.complete(req).then((done) => res.json({ done }), next),
    );
    app.get('/account', (req, res) =>
      req.isAuthenticated() ? res.json({ user: (req.user as { id: string }).id }) : res.sendStatus(401),
    );
    app.get('/fresh', login.requireFactors('secsign', { withinSec: 60 }), (_req, res) =>
      res.json({ ok: true }),
    );
    app.get('/factors', (req, res) => res.json(login.factors(req).map((done) => done.factor)));
    app.use(jsonErrors);
    return { app, login };
  }

  async function pushFor(agent: ReturnType<typeof request.agent>, secsignId: string) {
    expect((await agent.post('/secsign/start').send({ secsignid: secsignId })).status).to.equal(200);
    sandbox.secsign.approve(secsignId);
    return agent.post('/secsign/complete');
  }

  it('password then the push completes the login; the events say so without credentials', async () => {
    const events: PartialLoginEvent[] = [];
    const agent = request.agent(journeyApp({ events }).app);
    expect((await agent.post('/login').set('Authorization', ALICE)).body).to.deep.equal({
      status: 'partial',
      factors: ['basic-login'],
      remaining: [['secsign']],
    });
    expect((await agent.get('/account')).status).to.equal(401);
    const done = await pushFor(agent, 'alice');
    expect(done.body).to.deep.equal({
      status: 'complete',
      factors: ['basic-login', 'secsign'],
      remaining: [],
    });
    expect((await agent.get('/account')).body).to.deep.equal({ user: 'u1' });
    expect((await agent.get('/fresh')).status).to.equal(200);
    expect(events.map((event) => event.type)).to.deep.equal([
      'login.factor',
      'login.factor',
      'login.complete',
    ]);
    expect(JSON.stringify(events)).to.not.include('horse');
  });

  it('factors of two users never add up: alice’s password and bob’s push are no login', async () => {
    const agent = request.agent(journeyApp().app);
    await agent.post('/login').set('Authorization', ALICE);
    const push = await pushFor(agent, 'bob');
    expect(push.body).to.deep.include({ status: 'partial', factors: ['secsign'] });
    expect((await agent.get('/account')).status).to.equal(401);
  });

  it('a first factor of another user ends the full login in that session', async () => {
    const agent = request.agent(journeyApp().app);
    await agent.post('/login').set('Authorization', ALICE);
    await pushFor(agent, 'alice');
    expect((await agent.get('/account')).status).to.equal(200);
    expect((await agent.post('/login').set('Authorization', BOB)).body.status).to.equal('partial');
    expect((await agent.get('/account')).status, 'alice is logged out, bob is not in').to.equal(401);
  });

  it('a failed step answers the strategy’s failure as JSON, without WWW-Authenticate', async () => {
    const agent = request.agent(journeyApp().app);
    const wrong = await agent.post('/login').set('Authorization', basicHeader('alice', 'wrong'));
    expect(wrong.status).to.equal(401);
    expect(wrong.body.code).to.equal('invalid_credentials');
    expect(wrong.headers['www-authenticate']).to.equal(undefined);
  });

  it('a partial login older than maxAgeSec is forgotten', async () => {
    const clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
    try {
      const agent = request.agent(journeyApp({ maxAgeSec: 60 }).app);
      await agent.post('/login').set('Authorization', ALICE);
      expect((await agent.get('/factors')).body).to.deep.equal(['basic-login']);
      clock.tick(61_000);
      expect((await agent.get('/factors')).body).to.deep.equal([]);
      const push = await pushFor(agent, 'alice');
      expect(push.body).to.deep.include({ status: 'partial', factors: ['secsign'] });
    } finally {
      clock.restore();
    }
  });

  it('requireFactors with withinSec refuses a factor done too long ago', async () => {
    const clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
    try {
      const agent = request.agent(journeyApp().app);
      await agent.post('/login').set('Authorization', ALICE);
      await pushFor(agent, 'alice');
      expect((await agent.get('/fresh')).status).to.equal(200);
      clock.tick(61_000);
      const stale = await agent.get('/fresh');
      expect(stale.status).to.equal(401);
      expect(stale.body).to.deep.include({ code: 'factors_required', missing: ['secsign'] });
      expect((await agent.get('/account')).status, 'still logged in').to.equal(200);
    } finally {
      clock.restore();
    }
  });

  it('complete(req) logs the pending user in when the app decides; false with nobody pending', async () => {
    const agent = request.agent(journeyApp().app);
    expect((await agent.post('/complete-now')).body).to.deep.equal({ done: false });
    await agent.post('/login').set('Authorization', ALICE);
    expect((await agent.post('/complete-now')).body).to.deep.equal({ done: true });
    expect((await agent.get('/account')).body).to.deep.equal({ user: 'u1' });
  });

  it('a journey state that is not ours (corrupt or foreign) counts as none', async () => {
    const { app, login } = journeyApp();
    app.post('/plant', (req, res) => {
      (req.session as unknown as Record<string, unknown>)['passport-factors:login'] = {
        user: 'u1',
        factors: 'basic-login',
        complete: true,
      };
      res.sendStatus(204);
    });
    const agent = request.agent(app);
    await agent.post('/plant');
    expect((await agent.get('/factors')).body).to.deep.equal([]);
    expect(login).to.be.instanceOf(PartialLogin);
  });

  it('options are validated with messages that name them', () => {
    const { passport } = appWithPassport();
    expect(() => new PartialLogin({ passport, requiredFactors: [] })).to.throw(
      ConfigurationError,
      /requiredFactors/,
    );
    expect(() => new PartialLogin({ passport, requiredFactors: [['a', '']] })).to.throw(
      ConfigurationError,
      /requiredFactors/,
    );
    expect(() => new PartialLogin({ passport, requiredFactors: [['a']], maxAgeSec: 0 })).to.throw(
      ConfigurationError,
      /maxAgeSec/,
    );
    expect(() => new PartialLogin({ passport, requiredFactors: [['a']], name: '' })).to.throw(
      ConfigurationError,
      /name/,
    );
    expect(() => new PartialLogin({ passport: {} as never, requiredFactors: [['a']] })).to.throw(
      ConfigurationError,
      /passport/,
    );
  });
});
