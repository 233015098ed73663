import { expect } from 'chai';
import request from 'supertest';
import { SecSignStrategy } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { SecSignState, type SecSignEvent, secSignHandlers } from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, decidingRoute, jsonErrors } from '../helpers/apps.js';

/**
 * The SecSign flow through `passport.authenticate` over HTTP against a sandbox that answers the way
 * the vendor's libraries expect: a state answer carries `authsessionstate` and nothing else
 * (PROTOCOLS.md §1; the PHP API returns `$response['authsessionstate']` alone).
 */
describe('SecSignStrategy against SecSign answers in the vendor-library shape', function () {
  let sandbox: Sandbox;
  const strategies: SecSignStrategy[] = [];

  function setup() {
    const { app, passport } = appWithPassport();
    const events: SecSignEvent[] = [];
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store: new MemoryStore(),
        onEvent: (event) => events.push(event),
      },
      (secsignId: string) => ({ id: `user-${secsignId}` }),
    );
    strategies.push(secsign);
    passport.use(secsign);
    app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
    app.get('/secsign/status', secSignHandlers(secsign, { passport }).status);
    app.post('/secsign/complete', decidingRoute(passport, 'secsign'));
    app.use(jsonErrors);
    return { agent: request.agent(app), events };
  }
  const started = async (agent: ReturnType<typeof request.agent>, secsignId: string) => {
    const res = await agent.post('/secsign/start').send({ secsignid: secsignId });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  };
  const lastStateAnswer = () =>
    sandbox.secsign.requests.filter((r) => r.request === 'ReqGetAuthSessionState').at(-1)!.answer;

  before(async () => {
    sandbox = await startSandbox();
  });
  beforeEach(() => {
    sandbox.secsign.faults = {};
    sandbox.secsign.echoSessionIds = false;
  });
  after(async () => {
    await Promise.all(strategies.map((s) => s.client.close()));
    await sandbox.close();
  });

  for (const echo of [false, true]) {
    const shape = echo ? 'with the session ids echoed' : 'authsessionstate alone';
    it(`V1: the login completes and the session is released (${shape})`, async () => {
      sandbox.secsign.echoSessionIds = echo;
      const { agent } = setup();
      const id = echo ? 'alice-echoed' : 'alice';
      await started(agent, id);
      sandbox.secsign.approve(id);
      const done = await agent.post('/secsign/complete');
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      expect(done.body.user).to.deep.equal({ id: `user-${id}` });
      expect(lastStateAnswer()).to.match(
        echo ? /^secsignid=alice-echoed&authsessionid=[0-9a-f]+&authsessionstate=3$/ : /^authsessionstate=3$/,
      );
      expect(sandbox.secsign.requests.at(-1)!.request).to.equal('ReqReleaseAuthSession');
      expect(sandbox.secsign.stateOf(id), 'released at SecSign').to.equal(undefined);
    });
  }

  /** Each state, its documented outcome (the vendor's WordPress plugin, PROTOCOLS.md §1). */
  const STATES: Array<{
    name: string;
    reach: (s: Sandbox, id: string) => void;
    status: number;
    code?: string;
    polled: string;
  }> = [
    { name: 'PENDING', reach: () => undefined, status: 202, code: 'pending', polled: 'pending' },
    {
      name: 'FETCHED',
      reach: (s, id) => s.secsign.fetch(id),
      status: 202,
      code: 'pending',
      polled: 'fetched',
    },
    {
      name: 'AUTHENTICATED',
      reach: (s, id) => s.secsign.approve(id),
      status: 200,
      polled: 'authenticated',
    },
    { name: 'DENIED', reach: (s, id) => s.secsign.deny(id), status: 401, code: 'denied', polled: 'denied' },
    {
      name: 'CANCELED',
      reach: (s) => (s.secsign.faults = { stateOverride: SecSignState.CANCELED }),
      status: 401,
      code: 'canceled',
      polled: 'canceled',
    },
    {
      name: 'EXPIRED',
      reach: (s, id) => s.secsign.expire(id),
      status: 401,
      code: 'expired',
      polled: 'expired',
    },
    {
      name: 'SUSPENDED',
      reach: (s, id) => s.secsign.suspend(id),
      status: 401,
      code: 'expired',
      polled: 'expired',
    },
    {
      name: 'INVALID',
      reach: (s, id) => s.secsign.invalidate(id),
      status: 401,
      code: 'expired',
      polled: 'expired',
    },
  ];
  STATES.forEach((state, index) => {
    it(`V1: ${state.name} (authsessionstate alone) → status() "${state.polled}", authenticate ${state.status}${state.code ? ` ${state.code}` : ''}`, async () => {
      const id = `state-${index}`;
      // status() first, in its own browser session: it decides (and forgets) final states too.
      const polling = setup();
      await started(polling.agent, id);
      state.reach(sandbox, id);
      const polled = await polling.agent.get('/secsign/status');
      expect(polled.status, JSON.stringify(polled.body)).to.equal(200);
      expect(polled.body).to.deep.equal({ state: state.polled });
      expect(lastStateAnswer()).to.match(/^authsessionstate=\d$/);

      sandbox.secsign.faults = {};
      const completing = setup();
      await started(completing.agent, id);
      state.reach(sandbox, id);
      const res = await completing.agent.post('/secsign/complete');
      expect(res.status, JSON.stringify(res.body)).to.equal(state.status);
      if (state.code) expect(res.body.code).to.equal(state.code);
      else expect(res.body.user).to.deep.equal({ id: `user-${id}` });
      expect(lastStateAnswer()).to.equal(
        `authsessionstate=${SecSignState[state.name as keyof typeof SecSignState]}`,
      );
    });
  });

  it('V1: a state answer that names another auth session is refused and logs nobody in', async () => {
    const { agent } = setup();
    await started(agent, 'bob');
    sandbox.secsign.approve('bob');
    sandbox.secsign.faults = { foreignSession: true };
    const res = await agent.post('/secsign/complete');
    expect(res.status).to.equal(502);
    expect(res.body).to.include({ code: 'ERR_SECSIGN_SESSION_MISMATCH' });
    expect(res.body).to.not.have.property('user');
    sandbox.secsign.faults = {};
    const retried = await agent.post('/secsign/complete');
    expect(retried.status, 'the session is still pending, not lost').to.equal(200);
  });

  for (const contentType of ['text/html', 'application/x-www-form-urlencoded']) {
    it(`V2: every answer labelled ${contentType} works when the body is key=value`, async () => {
      sandbox.secsign.faults = { contentType };
      const { agent } = setup();
      await started(agent, 'carol');
      expect((await agent.get('/secsign/status')).body).to.deep.equal({ state: 'pending' });
      sandbox.secsign.approve('carol');
      const done = await agent.post('/secsign/complete');
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      expect(sandbox.secsign.stateOf('carol'), 'released').to.equal(undefined);
    });
  }

  it('V2: a gateway HTML page labelled text/plain is refused by its shape', async () => {
    const { agent } = setup();
    await started(agent, 'dave');
    sandbox.secsign.approve('dave');
    sandbox.secsign.faults = { garbage: true };
    const res = await agent.post('/secsign/complete');
    expect(res.status).to.equal(502);
    expect(res.body).to.include({ code: 'ERR_SECSIGN_BAD_RESPONSE' });
  });
});
