import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import session from 'express-session';
import type { RedisClientType } from 'redis';
import request from 'supertest';
import type { SecSignClient } from '../../src/exports/secsign.js';
import { SecSignStrategy, type Store } from '../../src/index.js';
import { MemoryStore, RedisStore } from '../../src/exports/stores.js';
import {
  SecSignState,
  type SecSignEvent,
  type SecSignStrategyOptions,
  secSignHandlers,
} from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, decidingRoute, jsonErrors } from '../helpers/apps.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis.js';

type Options = Partial<Omit<SecSignStrategyOptions, 'passReqToCallback'>>;

/** The four routes an app mounts: start, status, cancel, and complete through passport.authenticate. */
function secsignApp(sandbox: Sandbox, store: Store, options: Options = {}, sessionStore?: session.Store) {
  const { app, passport } = appWithPassport({ sessionStore });
  const events: SecSignEvent[] = [];
  const secsign = new SecSignStrategy(
    {
      serviceName: 'Example',
      serviceAddress: 'https://example.test',
      serverUrls: sandbox.secsign.serverUrls,
      store,
      onEvent: (event) => events.push(event),
      ...options,
    },
    async (secsignId) => (secsignId === 'ghost' ? false : { id: `user-${secsignId}`, secsignId }),
  );
  passport.use(secsign);
  app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
  app.get('/secsign/status', secSignHandlers(secsign, { passport }).status);
  app.post('/secsign/cancel', secSignHandlers(secsign, { passport }).cancel);
  app.post('/secsign/complete', decidingRoute(passport, 'secsign'));
  app.use(jsonErrors);
  return { app, secsign, events };
}

function secsignSuite(label: string, makeStore: (ctx: Mocha.Context) => Promise<Store>): void {
  describe(`SecSignStrategy over HTTP (${label} store)`, function () {
    let sandbox: Sandbox;
    let store: Store;
    const strategies: SecSignStrategy[] = [];
    const setup = (options: Options = {}) => {
      const made = secsignApp(sandbox, store, options);
      strategies.push(made.secsign);
      return made;
    };

    before(async () => {
      sandbox = await startSandbox({ secsign: { knownIds: ['alice', 'bob', 'carol', 'ghost'] } });
    });
    beforeEach(async function () {
      store = await makeStore(this);
      sandbox.secsign.faults = {};
    });
    after(async () => {
      await Promise.all(strategies.map((s) => s.client.close()));
      await sandbox.close();
    });

    it('start → access pass; status follows the phone; complete logs in and releases at SecSign', async () => {
      const agent = request.agent(setup().app);
      const started = await agent.post('/secsign/start').send({ secsignid: ' Alice ' });
      expect(started.status).to.equal(200);
      expect(started.body).to.have.keys('state', 'accessPass', 'pollIntervalMs');
      expect(started.body).to.include({ state: 'pending', pollIntervalMs: 3700 });
      expect(started.body.accessPass).to.match(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
      expect((await agent.get('/secsign/status')).body).to.deep.equal({ state: 'pending' });
      expect((await agent.post('/secsign/complete')).status, 'pending → 202').to.equal(202);
      sandbox.secsign.fetch('alice');
      expect((await agent.get('/secsign/status')).body).to.deep.equal({ state: 'fetched' });
      sandbox.secsign.approve('alice');
      expect((await agent.get('/secsign/status')).body).to.deep.equal({ state: 'authenticated' });
      const done = await agent.post('/secsign/complete');
      expect(done.status).to.equal(200);
      expect(done.body.user).to.deep.equal({ id: 'user-alice', secsignId: 'alice' });
      expect(done.body.info).to.deep.equal({ method: 'secsign', secsignId: 'alice' });
      expect(sandbox.secsign.stateOf('alice'), 'released at SecSign').to.equal(undefined);
    });

    it('answers pending with 202 and the poll interval in the challenge', async () => {
      const agent = request.agent(setup({ pollIntervalMs: 2000 }).app);
      await agent.post('/secsign/start').send({ secsignid: 'bob' });
      const res = await agent.post('/secsign/complete');
      expect(res.status).to.equal(202);
      expect(res.body).to.deep.equal({
        message: 'Waiting for you to confirm on your phone.',
        code: 'pending',
        pollIntervalMs: 2000,
      });
    });

    it('P1: no SecSign session id reaches the browser, and another browser cannot complete the session', async () => {
      const { app } = setup();
      const alice = request.agent(app);
      const mallory = request.agent(app);
      const started = await alice.post('/secsign/start').send({ secsignid: 'alice' });
      const leaked = JSON.stringify([started.body, started.headers]);
      const requestLog = sandbox.secsign.requests.at(-1)!.answer;
      const authSessionId = /authsessionid=([0-9a-f]+)/.exec(requestLog)?.[1];
      expect(authSessionId).to.be.a('string');
      expect(leaked).to.not.include(authSessionId);
      sandbox.secsign.approve('alice');
      await mallory.post('/secsign/start').send({ secsignid: 'bob' });
      const stolen = await mallory.post('/secsign/complete');
      expect(stolen.status).to.equal(202); // mallory sees only her own (pending) session
      const fresh = await request(app).post('/secsign/complete');
      expect(fresh.body.code).to.equal('no_pending_challenge');
      // A client that sends SecSign's ids itself gets nothing from them: they are not read from the request.
      const forged = await request(app)
        .post('/secsign/complete')
        .send({ authsessionid: authSessionId, requestid: 'x', secsignid: 'alice' });
      expect(forged.body.code).to.equal('no_pending_challenge');
      expect((await alice.post('/secsign/complete')).status).to.equal(200);
    });

    it('P2: a completed session cannot be replayed', async () => {
      const agent = request.agent(setup().app);
      await agent.post('/secsign/start').send({ secsignid: 'alice' });
      sandbox.secsign.approve('alice');
      expect((await agent.post('/secsign/complete')).status).to.equal(200);
      const replay = await agent.post('/secsign/complete');
      expect(replay.status).to.equal(401);
      expect(replay.body.code).to.equal('no_pending_challenge');
    });

    it('P3: still pending after maxAgeMs fails expired and cancels at SecSign', async () => {
      const { app, events } = setup({ maxAgeMs: 200 });
      const agent = request.agent(app);
      await agent.post('/secsign/start').send({ secsignid: 'carol' });
      await sleep(250);
      const res = await agent.post('/secsign/complete');
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('expired');
      expect(sandbox.secsign.stateOf('carol')).to.equal(SecSignState.CANCELED);
      expect(events.map((e) => e.type)).to.include('expired');
    });

    it('P3: an approval that arrives after maxAgeMs does not log in', async () => {
      const agent = request.agent(setup({ maxAgeMs: 200 }).app);
      await agent.post('/secsign/start').send({ secsignid: 'carol' });
      await sleep(250);
      sandbox.secsign.approve('carol');
      expect((await agent.post('/secsign/complete')).body.code).to.equal('expired');
    });

    describe('P4: fails closed', () => {
      it('DENIED on the phone → 401 denied, and the session is forgotten', async () => {
        const agent = request.agent(setup().app);
        await agent.post('/secsign/start').send({ secsignid: 'bob' });
        sandbox.secsign.deny('bob');
        const res = await agent.post('/secsign/complete');
        expect(res.status).to.equal(401);
        expect(res.body.code).to.equal('denied');
        expect((await agent.post('/secsign/complete')).body.code).to.equal('no_pending_challenge');
      });

      it('CANCELED at SecSign → 401 canceled', async () => {
        const { app, secsign } = setup();
        const agent = request.agent(app);
        const started = await agent.post('/secsign/start').send({ secsignid: 'bob' });
        expect(started.status).to.equal(200);
        sandbox.secsign.faults = { stateOverride: SecSignState.CANCELED };
        const res = await agent.post('/secsign/complete');
        expect(res.body.code).to.equal('canceled');
        expect(secsign.name).to.equal('secsign');
      });

      for (const [what, faults] of [
        ['an unknown state', { stateOverride: 42 }],
        ['a 5xx', { failWithStatus: 500 }],
        ['garbage', { garbage: true }],
        ['a dropped connection', { dropConnection: true }],
      ] as const) {
        it(`${what} from SecSign reaches the error handler and logs nobody in`, async () => {
          const agent = request.agent(setup().app);
          await agent.post('/secsign/start').send({ secsignid: 'alice' });
          sandbox.secsign.approve('alice');
          sandbox.secsign.faults = faults;
          const res = await agent.post('/secsign/complete');
          expect(res.status).to.be.within(500, 504);
          expect(res.body).to.not.have.property('user');
          const status = await agent.get('/secsign/status');
          expect(status.status).to.be.within(500, 504);
        });
      }

      it('no answer within the timeout → 504 through the error handler', async () => {
        const agent = request.agent(setup({ timeoutMs: 100 }).app);
        await agent.post('/secsign/start').send({ secsignid: 'alice' });
        sandbox.secsign.faults = { latencyMs: 300 };
        const res = await agent.post('/secsign/complete');
        expect(res.status).to.equal(504);
      });
    });

    describe('P5: push bombing', () => {
      it('limits starts per SecSign ID with 429 and Retry-After, across browser sessions', async () => {
        const { app } = setup({ maxStartsPerId: 3 });
        for (let i = 0; i < 3; i++) {
          expect(
            (await request.agent(app).post('/secsign/start').send({ secsignid: 'alice' })).status,
          ).to.equal(200);
        }
        const res = await request.agent(app).post('/secsign/start').send({ secsignid: 'ALICE' });
        expect(res.status).to.equal(429);
        expect(res.body.code).to.equal('rate_limited');
        expect(Number(res.headers['retry-after'])).to.be.greaterThan(0);
      });

      it('limits starts per browser session across SecSign IDs', async () => {
        const agent = request.agent(setup({ maxStartsPerSession: 2 }).app);
        expect((await agent.post('/secsign/start').send({ secsignid: 'alice' })).status).to.equal(200);
        expect((await agent.post('/secsign/start').send({ secsignid: 'bob' })).status).to.equal(200);
        expect((await agent.post('/secsign/start').send({ secsignid: 'carol' })).status).to.equal(429);
      });
    });

    it('P6: of two concurrent completions exactly one logs in', async () => {
      const agent = request.agent(setup().app);
      await agent.post('/secsign/start').send({ secsignid: 'alice' });
      sandbox.secsign.approve('alice');
      const results = await Promise.all([agent.post('/secsign/complete'), agent.post('/secsign/complete')]);
      expect(results.map((r) => r.status).sort()).to.deep.equal([200, 401]);
    });

    it('P6: a completion that loses the race after the winner released the session is a 401, never a 502', async () => {
      const { app, secsign } = setup();
      const agent = request.agent(app);
      await agent.post('/secsign/start').send({ secsignid: 'alice' });
      sandbox.secsign.approve('alice');
      // The loser asks SecSign for the state only once the winner has completed and released it.
      const askState = secsign.client.getAuthSessionState.bind(secsign.client);
      let winnerDone!: () => void;
      const released = new Promise<void>((resolve) => (winnerDone = resolve));
      let calls = 0;
      secsign.client.getAuthSessionState = async (ref) => {
        if (++calls === 1) await released;
        return askState(ref);
      };
      const loser = agent.post('/secsign/complete').then((res) => res);
      await sleep(20);
      const winner = await agent.post('/secsign/complete');
      winnerDone();
      expect(winner.status).to.equal(200);
      const lost = await loser;
      expect(lost.status, JSON.stringify(lost.body)).to.equal(401);
      expect(lost.body.code).to.equal('no_pending_challenge');
    });

    it('starting again replaces the pending session and cancels the old one at SecSign', async () => {
      const agent = request.agent(setup().app);
      await agent.post('/secsign/start').send({ secsignid: 'bob' });
      await agent.post('/secsign/start').send({ secsignid: 'carol' });
      expect(sandbox.secsign.stateOf('bob')).to.equal(SecSignState.CANCELED);
      sandbox.secsign.approve('carol');
      expect((await agent.post('/secsign/complete')).body.user.secsignId).to.equal('carol');
    });

    it('cancel() withdraws the session here and at SecSign', async () => {
      const agent = request.agent(setup().app);
      await agent.post('/secsign/start').send({ secsignid: 'bob' });
      expect((await agent.post('/secsign/cancel').send({})).body).to.deep.equal({ state: 'canceled' });
      expect(sandbox.secsign.stateOf('bob')).to.equal(SecSignState.CANCELED);
      sandbox.secsign.approve('bob'); // too late: canceled sessions cannot be approved
      expect((await agent.post('/secsign/complete')).body.code).to.equal('no_pending_challenge');
      expect((await agent.post('/secsign/cancel').send({})).status).to.equal(404);
    });

    it('status() answers a final state once, then 404', async () => {
      const agent = request.agent(setup().app);
      await agent.post('/secsign/start').send({ secsignid: 'bob' });
      sandbox.secsign.deny('bob');
      expect((await agent.get('/secsign/status')).body).to.deep.equal({ state: 'denied' });
      const after = await agent.get('/secsign/status');
      expect(after.status).to.equal(404);
      expect(after.body.code).to.equal('no_pending_challenge');
    });

    it('start() answers 400 without an id, and secsign_refused for an id SecSign does not know', async () => {
      const agent = request.agent(setup().app);
      const missing = await agent.post('/secsign/start').send({});
      expect(missing.status).to.equal(400);
      expect(missing.body.code).to.equal('missing_credentials');
      const unknown = await agent.post('/secsign/start').send({ secsignid: 'nobody' });
      expect(unknown.status).to.equal(400);
      expect(unknown.body).to.include({ code: 'secsign_refused', secsignCode: '104' });
    });

    it('an approved SecSign ID that belongs to no account is refused', async () => {
      const agent = request.agent(setup().app);
      await agent.post('/secsign/start').send({ secsignid: 'ghost' });
      sandbox.secsign.approve('ghost');
      const res = await agent.post('/secsign/complete');
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('invalid_credentials');
    });

    it('logs in through the fallback server while the primary is down', async () => {
      const agent = request.agent(setup().app);
      sandbox.secsign.faults = { primaryDown: true };
      expect((await agent.post('/secsign/start').send({ secsignid: 'alice' })).status).to.equal(200);
      sandbox.secsign.approve('alice');
      expect((await agent.post('/secsign/complete')).status).to.equal(200);
    });
  });
}

secsignSuite('memory', async () => new MemoryStore());
secsignSuite('Redis', async (ctx) => {
  const client = await redisOrSkip(ctx);
  after(async () => {
    if (client.isOpen) await client.close();
  });
  return new RedisStore({ client, prefix: uniquePrefix('secsign') });
});

describe('SecSignStrategy across two app instances on one Redis', function () {
  let client: RedisClientType;
  let sandbox: Sandbox;
  before(async function () {
    client = await redisOrSkip(this);
    sandbox = await startSandbox();
  });
  after(async () => {
    await sandbox?.close();
    if (client?.isOpen) await client.close();
  });

  it('P6: start on A, poll on B, two concurrent completions on A and B: exactly one login', async () => {
    const prefix = uniquePrefix('secsign-multi');
    const sessionStore = new session.MemoryStore();
    const a = secsignApp(sandbox, new RedisStore({ client, prefix }), {}, sessionStore);
    const b = secsignApp(sandbox, new RedisStore({ client, prefix }), {}, sessionStore);
    const started = await request(a.app).post('/secsign/start').send({ secsignid: 'alice' });
    const cookie = started.headers['set-cookie']![0]!.split(';')[0]!;
    expect((await request(b.app).get('/secsign/status').set('Cookie', cookie)).body).to.deep.equal({
      state: 'pending',
    });
    sandbox.secsign.approve('alice');
    const results = await Promise.all([
      request(a.app).post('/secsign/complete').set('Cookie', cookie),
      request(b.app).post('/secsign/complete').set('Cookie', cookie),
    ]);
    expect(results.map((r) => r.status).sort()).to.deep.equal([200, 401]);
    await Promise.all([a.secsign.client.close(), b.secsign.client.close()]);
  });
});

describe('SecSignStrategy configuration', () => {
  it('refuses missing or unsafe service names, a missing verify, and a foreign client', () => {
    const verify = () => false;
    expect(() => new SecSignStrategy({ serviceAddress: 'x' } as never, verify)).to.throw(/serviceName/);
    expect(() => new SecSignStrategy({ serviceName: 'A&B', serviceAddress: 'x' }, verify)).to.throw(/"&"/);
    expect(() => new SecSignStrategy({ serviceName: 'A', serviceAddress: 'x' }, undefined as never)).to.throw(
      /verify/,
    );
    expect(
      () =>
        new SecSignStrategy({ serviceName: 'A', serviceAddress: 'x', client: {} as SecSignClient }, verify),
    ).to.throw(/client/);
  });
});
