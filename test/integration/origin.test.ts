import { expect } from 'chai';
import type { Express } from 'express';
import request from 'supertest';
import { ConfigurationError, SecSignStrategy, SmsOtpStrategy, XignInStrategy } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { SipgateSmsSender, smsOtpHandlers } from '../../src/exports/sms-otp.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { xignInHandlers } from '../../src/exports/xignin.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, jsonErrors } from '../helpers/apps.js';

const HOST = 'app.example.test';
const OWN = `http://${HOST}`;
const EVIL = 'https://evil.example';
const PHONE = '+4915790000077';

type Agent = ReturnType<typeof request.agent>;

describe('U4: route handlers that act on a browser POST refuse other sites (Origin / Sec-Fetch-Site)', function () {
  this.timeout(20_000);
  let sandbox: Sandbox;
  const closers: Array<() => Promise<unknown>> = [];

  before(async () => {
    sandbox = await startSandbox({ secsign: { knownIds: ['alice'] } });
    sandbox.xignin.registerClient({
      clientId: 'rp-origin',
      clientSecret: 'origin-secret',
      redirectUris: [`${OWN}/callback`],
    });
  });
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await sandbox.close();
  });

  function originApp(allowedOrigins?: string[]): Express {
    const { app, passport } = appWithPassport();
    const store = new MemoryStore();
    closers.push(() => store.close());
    const options = allowedOrigins ? { allowedOrigins } : {};
    const sms = new SmsOtpStrategy({
      sender: new SipgateSmsSender(sandbox.sipgate.credentials),
      store,
      getPhoneNumber: () => PHONE,
      ...options,
    });
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Origin test',
        serviceAddress: OWN,
        serverUrls: sandbox.secsign.serverUrls,
        store,
        ...options,
      },
      (id) => ({ id }),
    );
    const xignin = new XignInStrategy(
      {
        managerUrl: sandbox.xignin.issuer,
        clientId: 'rp-origin',
        clientSecret: 'origin-secret',
        redirectUri: `${OWN}/callback`,
        store,
        ...options,
      },
      (claims) => ({ id: claims.sub }),
    );
    closers.push(() => xignin.client.close());
    passport.use(sms);
    passport.use(secsign);
    passport.use(xignin);
    // The first factor is done for the SMS step.
    app.use((req, _res, next) => {
      req.user = { id: 'alice' };
      next();
    });
    app.post('/sms/send', smsOtpHandlers(sms).send);
    app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
    app.post('/secsign/cancel', secSignHandlers(secsign, { passport }).cancel);
    app.post('/xignin/push', xignInHandlers(xignin, { passport }).push);
    app.use(jsonErrors);
    return app;
  }

  const texts = () => sandbox.inbox.to(PHONE).length;
  const secsignStarts = () =>
    sandbox.secsign.requests.filter((r) => r.request === 'ReqRequestAuthSession').length;
  const pushes = () => sandbox.xignin.hits['api/push/authenticate'] ?? 0;

  interface Route {
    name: string;
    path: string;
    body: Record<string, string>;
    /** What the handler answers when it accepts the request. */
    accepted: number;
    /** How many vendor calls it made so far. */
    effects: () => number;
    /** Prepares the session (e.g. a pending SecSign request to cancel). */
    prepare?: (agent: Agent) => Promise<void>;
  }

  const startSecSign = async (agent: Agent) => {
    const res = await agent
      .post('/secsign/start')
      .set({ Host: HOST, Origin: OWN, 'Sec-Fetch-Site': 'same-origin' })
      .send({ secsignid: 'alice' });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  };
  const secsignCancels = () =>
    sandbox.secsign.requests.filter((r) => r.request === 'ReqCancelAuthSession').length;

  const routes: Route[] = [
    { name: 'smsOtpHandlers(smsOtp).send', path: '/sms/send', body: {}, accepted: 202, effects: texts },
    {
      name: 'secsign start',
      path: '/secsign/start',
      body: { secsignid: 'alice' },
      accepted: 200,
      effects: secsignStarts,
    },
    {
      name: 'secsign cancel',
      path: '/secsign/cancel',
      body: {},
      accepted: 200,
      effects: secsignCancels,
      prepare: startSecSign,
    },
    {
      name: 'xignInHandlers(xignin, { passport }).push',
      path: '/xignin/push',
      body: { identifier: 'alice@example.test' },
      accepted: 202,
      effects: pushes,
    },
  ];

  for (const route of routes) {
    describe(route.name, () => {
      let app: Express;
      let agent: Agent;
      beforeEach(async () => {
        app = originApp();
        agent = request.agent(app);
        await route.prepare?.(agent);
      });

      it(`U4: ${route.name}: a text/plain POST from https://evil.example is refused (403 cross_origin) and nothing reaches the vendor; the app's own page (Sec-Fetch-Site same-origin, or its Origin) is accepted`, async () => {
        const before = route.effects();
        const res = await agent
          .post(route.path)
          .set({ Host: HOST, Origin: EVIL, 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'text/plain' })
          .send(JSON.stringify(route.body));
        expect(res.status, JSON.stringify(res.body)).to.equal(403);
        expect(res.body).to.include({ code: 'cross_origin' });
        // A JSON body does not help another site either.
        const json = await agent.post(route.path).set({ Host: HOST, Origin: EVIL }).send(route.body);
        expect(json.status).to.equal(403);
        expect(route.effects()).to.equal(before);

        // The app's own page is accepted.
        const beforeOwn = route.effects();
        const own = await agent
          .post(route.path)
          .set({ Host: HOST, Origin: OWN, 'Sec-Fetch-Site': 'same-origin' })
          .send(route.body);
        expect(own.status, JSON.stringify(own.body)).to.equal(route.accepted);
        expect(route.effects()).to.equal(beforeOwn + 1);
        // Origin alone (no Sec-Fetch-Site, as older browsers send): a fresh app and session.
        const other = request.agent(originApp());
        await route.prepare?.(other);
        const byOrigin = await other.post(route.path).set({ Host: HOST, Origin: OWN }).send(route.body);
        expect(byOrigin.status, JSON.stringify(byOrigin.body)).to.equal(route.accepted);
      });

      it(`U4: ${route.name}: without Origin and Sec-Fetch-Site (not a browser), JSON is accepted and text/plain or no body is refused`, async () => {
        const plain = await agent
          .post(route.path)
          .set({ Host: HOST, 'Content-Type': 'text/plain' })
          .send(JSON.stringify(route.body));
        expect(plain.status).to.equal(403);
        expect(plain.body).to.include({ code: 'cross_origin' });
        const bodiless = await agent.post(route.path).set({ Host: HOST });
        expect(bodiless.status).to.equal(403);
        const before = route.effects();
        const json = await agent.post(route.path).set({ Host: HOST }).send(route.body);
        expect(json.status, JSON.stringify(json.body)).to.equal(route.accepted);
        expect(route.effects()).to.equal(before + 1);
      });
    });
  }

  it("U4: allowedOrigins names the app's origins: a listed one is accepted, an unlisted one (the request's own included) is refused", async () => {
    const app = originApp(['https://www.example.test']);
    const listed = await request(app)
      .post('/xignin/push')
      .set({ Host: HOST, Origin: 'https://www.example.test', 'Sec-Fetch-Site': 'same-site' })
      .send({ identifier: 'alice@example.test' });
    expect(listed.status).to.equal(202);
    const own = await request(app)
      .post('/xignin/push')
      .set({ Host: HOST, Origin: OWN, 'Sec-Fetch-Site': 'cross-site' })
      .send({ identifier: 'alice@example.test' });
    expect(own.status).to.equal(403);
    const nullOrigin = await request(app).post('/sms/send').set({ Host: HOST, Origin: 'null' }).send({});
    expect(nullOrigin.status).to.equal(403);
  });

  it('refuses allowedOrigins that are not bare origins, naming the option', () => {
    const base = { sender: { send: async () => {} }, getPhoneNumber: () => PHONE };
    for (const bad of [[], ['app.example.test'], ['https://app.example.test/path'], ['ftp://x.test'], [42]]) {
      expect(() => new SmsOtpStrategy({ ...base, allowedOrigins: bad as never })).to.throw(
        ConfigurationError,
        /allowedOrigins/,
      );
    }
    expect(
      () =>
        new SmsOtpStrategy({
          ...base,
          allowedOrigins: ['https://app.example.test/', 'http://localhost:3000'],
        }),
    ).to.not.throw();
  });
});
