import { expect } from 'chai';
import type { Response } from 'supertest';
import request from 'supertest';
import { SecSignStrategy, XignInStrategy } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { xignInHandlers } from '../../src/exports/xignin.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, decidingRoute, jsonErrors } from '../helpers/apps.js';

const REDIRECT = 'http://rp.example.test/callback';
const SECRET = 'records-test-client-secret';

/** A MemoryStore that remembers what it was asked to write, so a test can corrupt exactly that. */
class TamperableStore extends MemoryStore {
  readonly #written = new Map<string, number>();

  override async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.#written.set(key, ttlMs);
    return super.set(key, value, ttlMs);
  }

  /** Overwrites every live key this store wrote whose name matches, with `value`. */
  async corrupt(match: RegExp, value: string): Promise<number> {
    let count = 0;
    for (const [key, ttlMs] of this.#written) {
      if (!match.test(key) || (await this.get(key)) === undefined) continue;
      await super.set(key, value, ttlMs);
      count++;
    }
    return count;
  }
}

/** Not JSON, JSON of the wrong kind, and records with a field missing or of the wrong type. */
function foreignRecords(valid: Record<string, unknown>): string[] {
  const [first] = Object.keys(valid);
  return [
    'not json {',
    'null',
    '[1,2]',
    '"a string"',
    '{}',
    JSON.stringify({ ...valid, [first!]: 42 }),
    JSON.stringify({ ...valid, [first!]: '' }),
  ];
}

const noState = (res: Response, status: number) => {
  expect(res.status, res.text).to.equal(status);
  expect(res.body.code).to.be.oneOf(['no_pending_challenge', 'state_mismatch']);
};

describe('records read back from a store are validated: a corrupt or foreign one is "no state" (never a crash, never a login)', function () {
  this.timeout(20_000);
  let sandbox: Sandbox;
  const closers: Array<() => Promise<unknown>> = [];

  before(async () => {
    sandbox = await startSandbox({ secsign: { knownIds: ['alice'] } });
    sandbox.xignin.registerClient({ clientId: 'rp-records', clientSecret: SECRET, redirectUris: [REDIRECT] });
  });
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await sandbox.close();
  });

  function xigninApp() {
    const store = new TamperableStore();
    const { app, passport } = appWithPassport();
    const strategy = new XignInStrategy(
      {
        managerUrl: sandbox.xignin.issuer,
        clientId: 'rp-records',
        clientSecret: SECRET,
        redirectUri: REDIRECT,
        store,
      },
      (claims) => ({ id: `user-${claims.sub}` }),
    );
    closers.push(
      () => strategy.client.close(),
      () => store.close(),
    );
    passport.use(strategy);
    app.get('/login', passport.authenticate('xignin'));
    app.get('/callback', decidingRoute(passport, 'xignin'));
    app.post('/callback', decidingRoute(passport, 'xignin'));
    const routes = xignInHandlers(strategy, { passport });
    app.post('/push', routes.push);
    app.get('/push/status', routes.pushStatus);
    app.use(jsonErrors);
    return { app, store };
  }

  function secsignApp() {
    const store = new TamperableStore();
    const { app, passport } = appWithPassport();
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store,
      },
      async (secsignId) => ({ id: `user-${secsignId}` }),
    );
    closers.push(
      () => secsign.client.close(),
      () => store.close(),
    );
    passport.use(secsign);
    const routes = secSignHandlers(secsign, { passport });
    app.post('/secsign/start', routes.start);
    app.get('/secsign/status', routes.status);
    app.post('/secsign/cancel', routes.cancel);
    app.post('/secsign/complete', decidingRoute(passport, 'secsign'));
    app.use(jsonErrors);
    return { app, store };
  }

  const confirmedPush = { loginSessionId: 'ls', token: 'tk', idToken: 'id.token.here' };

  for (const foreign of [
    ...foreignRecords(confirmedPush),
    JSON.stringify({ ...confirmedPush, idToken: 7 }),
  ]) {
    it(`XignIn push: completing over a push record ${foreign} answers 401 no_pending_challenge`, async () => {
      const { app, store } = xigninApp();
      const agent = request.agent(app);
      expect((await agent.post('/push').send({ identifier: 'alice@example.test' })).status).to.equal(202);
      expect(await store.corrupt(/^xignin:push:/, foreign)).to.equal(1);
      noState(await agent.post('/callback').send({ push: 1 }), 401);
    });

    it(`XignIn push: polling a push record ${foreign} answers 404 no_pending_challenge`, async () => {
      const { app, store } = xigninApp();
      const agent = request.agent(app);
      await agent.post('/push').send({ identifier: 'alice@example.test' });
      expect(await store.corrupt(/^xignin:push:/, foreign)).to.equal(1);
      noState(await agent.get('/push/status'), 404);
    });
  }

  for (const foreign of foreignRecords({ nonce: 'n', verifier: 'v', createdAt: Date.now() })) {
    it(`XignIn redirect: a callback whose transaction is ${foreign} answers 401 state_mismatch`, async () => {
      const { app, store } = xigninApp();
      const agent = request.agent(app);
      const started = await agent.get('/login');
      const state = new URL(started.headers.location!).searchParams.get('state')!;
      expect(await store.corrupt(/^xignin:tx:/, foreign)).to.equal(1);
      const res = await agent.get(`/callback?code=anything&state=${encodeURIComponent(state)}`);
      noState(res, 401);
      expect(res.body.code).to.equal('state_mismatch');
    });
  }

  for (const foreign of foreignRecords({
    secsignId: 'alice',
    authSessionId: '1',
    requestId: 'r',
    startedAt: 1,
  })) {
    it(`SecSign ID: a pending request ${foreign} is no pending login (status 404, complete 401)`, async () => {
      const { app, store } = secsignApp();
      const agent = request.agent(app);
      expect((await agent.post('/secsign/start').send({ secsignid: 'alice' })).status).to.equal(200);
      expect(await store.corrupt(/^secsign:pending:/, foreign)).to.equal(1);
      sandbox.secsign.approve('alice');
      noState(await agent.get('/secsign/status'), 404);
      noState(await agent.post('/secsign/complete').send({}), 401);
      // A new start works over it.
      expect((await agent.post('/secsign/start').send({ secsignid: 'alice' })).status).to.equal(200);
    });
  }
});
