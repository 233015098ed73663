import { createHash } from 'node:crypto';
import { expect } from 'chai';
import express, { type Express } from 'express';
import { Passport } from 'passport';
import request from 'supertest';
import { ConfigurationError, SecSignStrategy } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { secSignHandlers, type SecSignStrategyOptions } from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, jsonErrors } from '../helpers/apps.js';

type Options = Partial<Omit<SecSignStrategyOptions, 'passReqToCallback'>>;

describe('secSignHandlers: registered names, answers, and the session-less binding', function () {
  let sandbox: Sandbox;
  const strategies: SecSignStrategy[] = [];

  before(async () => {
    sandbox = await startSandbox({ secsign: { knownIds: ['alice', 'bob'] } });
  });
  after(async () => {
    await Promise.all(strategies.map((s) => s.client.close()));
    await sandbox.close();
  });

  function strategy(options: Options = {}): SecSignStrategy {
    const made = new SecSignStrategy(
      {
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store: new MemoryStore(),
        ...options,
      },
      async (secsignId) => ({ id: `user-${secsignId}` }),
    );
    strategies.push(made);
    return made;
  }

  /** Mounts every handler; `complete` answers the logged-in user. */
  function mount(app: Express, routes: ReturnType<typeof secSignHandlers>): Express {
    app.post('/secsign/start', routes.start);
    app.get('/secsign/status', routes.status);
    app.post('/secsign/cancel', routes.cancel);
    app.post('/secsign/complete', routes.complete, (req, res) => {
      res.json({ user: req.user, info: req.authInfo });
    });
    app.use(jsonErrors);
    return app;
  }

  describe('passport.use(custom-name, strategy)', () => {
    it('every handler works under the registered name (given to the factory)', async () => {
      const { app, passport } = appWithPassport();
      const secsign = strategy();
      passport.use('phone-push', secsign);
      const agent = request.agent(mount(app, secSignHandlers(secsign, { passport, name: 'phone-push' })));
      expect((await agent.post('/secsign/start').send({ secsignid: 'alice' })).status).to.equal(200);
      expect((await agent.get('/secsign/status')).body).to.deep.equal({ state: 'pending' });
      const early = await agent.post('/secsign/complete').send({});
      expect(early.status, JSON.stringify(early.body)).to.equal(202);
      expect(early.body).to.include({ code: 'pending', pollIntervalMs: 3700 });
      sandbox.secsign.approve('alice');
      const done = await agent.post('/secsign/complete').send({});
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      expect(done.body.user).to.deep.equal({ id: 'user-alice' });
      expect(done.body.info).to.include({ method: 'secsign', secsignId: 'alice' });
      // Cancel, on a second login.
      expect((await agent.post('/secsign/start').send({ secsignid: 'alice' })).status).to.equal(200);
      expect((await agent.post('/secsign/cancel').send({})).body).to.deep.equal({ state: 'canceled' });
      expect((await agent.get('/secsign/status')).status).to.equal(404);
    });

    it('the `name` option names the strategy, and the handlers use it without being told', async () => {
      const { app, passport } = appWithPassport();
      const secsign = strategy({ name: 'phone-push' });
      expect(secsign.name).to.equal('phone-push');
      passport.use(secsign);
      const agent = request.agent(mount(app, secSignHandlers(secsign, { passport })));
      await agent.post('/secsign/start').send({ secsignid: 'bob' });
      sandbox.secsign.approve('bob');
      const done = await agent.post('/secsign/complete').send({});
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      expect(done.body.user).to.deep.equal({ id: 'user-bob' });
    });

    it('a bad name or a missing passport is a ConfigurationError naming the option', () => {
      expect(() => strategy({ name: ' ' })).to.throw(ConfigurationError, /`name`/);
      const secsign = strategy();
      expect(() => secSignHandlers(secsign, {} as never)).to.throw(ConfigurationError, /`passport`/);
      expect(() => secSignHandlers({} as never, { passport: new Passport() })).to.throw(
        ConfigurationError,
        /SecSignStrategy/,
      );
    });

    it('`respond` writes every answer (success and failure)', async () => {
      const { app, passport } = appWithPassport();
      const secsign = strategy();
      passport.use(secsign);
      const routes = secSignHandlers(secsign, {
        passport,
        respond: (res, status, body) => {
          res.statusCode = status;
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ ok: status < 300, data: body }));
        },
      });
      const agent = request.agent(mount(app, routes));
      const none = await agent.get('/secsign/status');
      expect(none.status).to.equal(404);
      expect(none.body).to.deep.include({ ok: false });
      expect(none.body.data).to.include({ code: 'no_pending_challenge' });
      const started = await agent.post('/secsign/start').send({ secsignid: 'alice' });
      expect(started.body).to.deep.include({ ok: true });
      expect(started.body.data).to.include({ state: 'pending' });
      const early = await agent.post('/secsign/complete').send({});
      expect(early.status).to.equal(202);
      expect(early.body.data).to.include({ code: 'pending' });
    });
  });

  describe('without express-session: getSessionId(req) binds the pending request', () => {
    /** An app with no session middleware at all: the binding id travels in `X-Login-Id`. */
    function sessionless(store = new MemoryStore()) {
      const app = express();
      const passport = new Passport();
      app.use(express.json());
      app.use(passport.initialize());
      const secsign = strategy({
        store,
        getSessionId: (req) => req.headers['x-login-id'] as string | undefined,
      });
      passport.use(secsign);
      return mount(app, secSignHandlers(secsign, { passport }));
    }
    const as = (app: Express, id: string) => ({
      start: () => request(app).post('/secsign/start').set('X-Login-Id', id).send({ secsignid: 'alice' }),
      status: () => request(app).get('/secsign/status').set('X-Login-Id', id),
      cancel: () => request(app).post('/secsign/cancel').set('X-Login-Id', id).send({}),
      complete: () => request(app).post('/secsign/complete').set('X-Login-Id', id).send({}),
    });

    it('start, poll and complete with the id; the login is single use', async () => {
      const app = sessionless();
      const me = as(app, 'browser-a-0123456789');
      const started = await me.start();
      expect(started.status, JSON.stringify(started.body)).to.equal(200);
      expect(started.headers['set-cookie'], 'no session cookie').to.equal(undefined);
      sandbox.secsign.approve('alice');
      expect((await me.status()).body).to.deep.equal({ state: 'authenticated' });
      const done = await me.complete();
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      expect(done.body.user).to.deep.equal({ id: 'user-alice' });
      const again = await me.complete();
      expect(again.status).to.equal(401);
      expect(again.body.code).to.equal('no_pending_challenge');
    });

    it('attack: another id cannot read, cancel or complete the pending request, and the owner still can', async () => {
      const app = sessionless();
      const victim = as(app, 'victim-browser-id');
      const attacker = as(app, 'attacker-browser-id');
      expect((await victim.start()).status).to.equal(200);
      sandbox.secsign.approve('alice');
      const read = await attacker.status();
      expect(read.status).to.equal(404);
      expect(read.body.code).to.equal('no_pending_challenge');
      expect((await attacker.cancel()).status).to.equal(404);
      const stolen = await attacker.complete();
      expect(stolen.status).to.equal(401);
      expect(stolen.body.code).to.equal('no_pending_challenge');
      expect(stolen.body).to.not.have.property('user');
      // Without any id: nothing either.
      expect((await request(app).post('/secsign/complete').send({})).status).to.equal(401);
      const owner = await victim.complete();
      expect(owner.status, JSON.stringify(owner.body)).to.equal(200);
      expect(owner.body.user).to.deep.equal({ id: 'user-alice' });
    });

    it('races: 10 concurrent completions with the id log in exactly once', async () => {
      const app = sessionless();
      const me = as(app, 'racing-browser-id');
      await me.start();
      sandbox.secsign.approve('alice');
      const results = await Promise.all(Array.from({ length: 10 }, () => me.complete()));
      expect(results.filter((res) => res.status === 200)).to.have.length(1);
      for (const res of results.filter((r) => r.status !== 200)) {
        expect(res.status).to.equal(401);
        expect(res.body.code).to.equal('no_pending_challenge');
      }
    });

    it('a corrupt or foreign record at the binding’s key is no pending request: never a crash, never a login', async () => {
      const store = new MemoryStore();
      const app = sessionless(store);
      const me = as(app, 'browser-with-a-bad-record');
      await me.start();
      const key = `secsign:pending:${createHash('sha256').update('browser-with-a-bad-record').digest('base64url')}`;
      expect(await store.get(key), 'the record is where the test expects it').to.be.a('string');
      for (const garbage of ['not json', '{"secsignId":"alice"}', 'null']) {
        await store.set(key, garbage, 60_000);
        expect((await me.status()).status, garbage).to.equal(404);
        const done = await me.complete();
        expect(done.status, garbage).to.equal(401);
        expect(done.body.code).to.equal('no_pending_challenge');
      }
    });

    it('an id longer than 1024 characters counts as none', async () => {
      const app = sessionless();
      const res = await as(app, 'x'.repeat(1025)).start();
      expect(res.status).to.equal(500);
      expect(res.body.code).to.equal('ERR_INVALID_OPTION');
    });

    it('a start without an id is the app’s fault (500 with ERR_INVALID_OPTION), and sends nothing to the phone', async () => {
      const app = sessionless();
      const before = sandbox.secsign.requests.length;
      const res = await request(app).post('/secsign/start').send({ secsignid: 'alice' });
      expect(res.status).to.equal(500);
      expect(res.body.code).to.equal('ERR_INVALID_OPTION');
      expect(sandbox.secsign.requests.length).to.equal(before);
    });
  });
});
