import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import sinon from 'sinon';
import request from 'supertest';
import { BasicLoginStrategy, ConfigurationError, SecSignStrategy, XTokenStrategy } from '../../src/index.js';
import { xTokenHandlers } from '../../src/exports/x-token.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { PartialLogin, RememberedBrowsers } from '../../src/exports/partial-login.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, basicHeader, jsonErrors, testUsers, type UserDirectory } from '../helpers/apps.js';

const ALICE = basicHeader('alice', 'correct horse battery staple');
const BOB = basicHeader('bob', 'pa:ss with a colon');
type Agent = ReturnType<typeof request.agent>;

/**
 * "Remember this browser": password + SecSign push, or password + a browser remembered after
 * such a login. Each test is a property a user relies on: bound to the user and the browser,
 * revocable, expiring, and recorded as its own factor.
 */
describe('PartialLogin rememberBrowser: "remember this browser" after a second factor', () => {
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

  function rig(options: { maxAgeDays?: number } = {}) {
    const store = new MemoryStore();
    const browsers = new RememberedBrowsers({ store, ...options });
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
      requiredFactors: [
        ['basic-login', 'secsign'],
        ['basic-login', 'remembered-browser'],
      ],
      rememberBrowser: { browsers },
    });
    app.post('/login', login.step('basic-login'));
    app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
    app.post('/secsign/complete', login.step('secsign'));
    app.get('/account', (req, res) =>
      req.isAuthenticated()
        ? res.json({ factors: login.factors(req).map((done) => done.factor) })
        : res.sendStatus(401),
    );
    // The X-Token API's "log out everywhere" forgets the remembered browsers too.
    const xToken = new XTokenStrategy(
      { secret: randomBytes(32), store },
      (payload) => users.findById(payload.sub) ?? false,
    );
    passport.use(xToken);
    const api = xTokenHandlers(xToken, { passport, alsoRevoke: [browsers] });
    app.post('/api/auth/login', api.login);
    app.post('/api/auth/logout-everywhere', api.logoutEverywhere);
    app.use(jsonErrors);
    return { app, store, browsers };
  }

  /** Password, then the push; `remember` ticks the box on the completing step. */
  async function fullLogin(agent: Agent, who: string, secsignId: string, remember: boolean) {
    await agent.post('/login').set('Authorization', who);
    expect((await agent.post('/secsign/start').send({ secsignid: secsignId })).status).to.equal(200);
    sandbox.secsign.approve(secsignId);
    return agent.post('/secsign/complete').send({ rememberBrowser: remember });
  }

  /** The remembered cookie a completing step set, if any. */
  const rememberedCookie = (answer: request.Response): string | undefined => {
    const cookies = ([] as string[]).concat(answer.headers['set-cookie'] ?? []);
    return cookies.find((cookie) => cookie.startsWith('pf_remembered='));
  };

  /** The same browser later, in a fresh session: a new cookie jar holding only the remembered cookie. */
  function sameBrowserNewSession(
    remembered: string | undefined,
    app: Parameters<typeof request.agent>[0],
  ): Agent {
    const next = request.agent(app);
    if (remembered) next.jar.setCookie(remembered.split(';')[0]!, '127.0.0.1', '/');
    return next;
  }

  it('after password + push with the box ticked, the same browser logs in with the password alone, recorded as remembered-browser', async () => {
    const { app, store } = rig();
    const agent = request.agent(app);
    const done = await fullLogin(agent, ALICE, 'alice', true);
    expect(done.body).to.deep.include({ status: 'complete', rememberedBrowser: true });
    const cookie = rememberedCookie(done)!;
    expect(cookie)
      .to.match(/HttpOnly/i)
      .and.match(/SameSite=Lax/i)
      .and.match(/Max-Age=2592000/);
    const token = /pf_remembered=([^;]+)/.exec(cookie)![1]!;
    // The store keys a digest of the cookie, never its value.
    expect(await store.get(`remembered:${token}`)).to.equal(undefined);
    expect(await store.get(`remembered:${createHash('sha256').update(token).digest('base64url')}`)).to.equal(
      'u1',
    );

    const again = sameBrowserNewSession(cookie, app);
    const password = await again.post('/login').set('Authorization', ALICE);
    expect(password.body).to.deep.equal({
      status: 'complete',
      factors: ['basic-login', 'remembered-browser'],
      remaining: [],
    });
    expect((await again.get('/account')).body).to.deep.equal({
      factors: ['basic-login', 'remembered-browser'],
    });
  });

  it('a browser remembered for alice, then remembered for bob, gets one new cookie; alice’s old one counts for nothing', async () => {
    const { app } = rig();
    const agent = request.agent(app);
    const alices = rememberedCookie(await fullLogin(agent, ALICE, 'alice', true))!;
    const bobs = ([] as string[])
      .concat((await fullLogin(agent, BOB, 'bob', true)).headers['set-cookie'] ?? [])
      .filter((cookie) => cookie.startsWith('pf_remembered='));
    expect(bobs, 'one Set-Cookie for the remembered cookie, no clearing one before it').to.have.length(1);
    const login = async (cookie: string, who: string) =>
      (await sameBrowserNewSession(cookie, app).post('/login').set('Authorization', who)).body.status;
    expect(await login(alices, ALICE)).to.equal('partial');
    expect(await login(bobs[0]!, BOB)).to.equal('complete');
  });

  it('without the box ticked nothing is remembered; another browser still needs the push', async () => {
    const { app } = rig();
    const agent = request.agent(app);
    const done = await fullLogin(agent, ALICE, 'alice', false);
    expect(done.body).to.not.have.property('rememberedBrowser');
    expect(String(done.headers['set-cookie'] ?? '')).not.to.include('pf_remembered');
    expect((await request.agent(app).post('/login').set('Authorization', ALICE)).body).to.deep.include({
      status: 'partial',
    });
  });

  it('bound to the user: alice’s remembered browser does not spare bob his second factor', async () => {
    const { app } = rig();
    const remembered = rememberedCookie(await fullLogin(request.agent(app), ALICE, 'alice', true));
    const bob = await sameBrowserNewSession(remembered, app).post('/login').set('Authorization', BOB);
    expect(bob.body).to.deep.equal({
      status: 'partial',
      factors: ['basic-login'],
      remaining: [['secsign'], ['remembered-browser']],
    });
  });

  it('bound to the browser: a forged or guessed cookie counts for nothing', async () => {
    const { app } = rig();
    await fullLogin(request.agent(app), ALICE, 'alice', true);
    const forged = await request(app)
      .post('/login')
      .set('Authorization', ALICE)
      .set('Cookie', 'pf_remembered=AAAAAAAAAAAAAAAAAAAAAA');
    expect(forged.body).to.deep.include({ status: 'partial' });
  });

  it('revocable: revokeUser (log out everywhere) forgets every browser of the user', async () => {
    const { app, browsers } = rig();
    const first = rememberedCookie(await fullLogin(request.agent(app), ALICE, 'alice', true));
    const second = rememberedCookie(await fullLogin(request.agent(app), ALICE, 'alice', true));
    expect(first).to.not.equal(second);
    expect(await browsers.revokeUser('u1')).to.equal(2);
    for (const remembered of [first, second])
      expect(
        (await sameBrowserNewSession(remembered, app).post('/login').set('Authorization', ALICE)).body,
      ).to.deep.include({
        status: 'partial',
      });
  });

  it('revocable from the X-Token API: logoutEverywhere with alsoRevoke forgets the remembered browsers', async () => {
    const { app } = rig();
    const remembered = rememberedCookie(await fullLogin(request.agent(app), ALICE, 'alice', true));
    const token = (await request(app).post('/api/auth/login').set('Authorization', ALICE)).headers[
      'x-token'
    ] as string;
    const everywhere = await request(app).post('/api/auth/logout-everywhere').set('X-Token', token);
    expect(everywhere.body).to.deep.include({ success: true });
    expect(
      (await sameBrowserNewSession(remembered, app).post('/login').set('Authorization', ALICE)).body,
    ).to.deep.include({
      status: 'partial',
    });
    expect(() =>
      xTokenHandlers(new XTokenStrategy({ secret: randomBytes(32), store: new MemoryStore() }, () => false), {
        passport: appWithPassport().passport,
        alsoRevoke: [{}] as never,
      }),
    ).to.throw(ConfigurationError, /alsoRevoke/);
  });

  it('expires after maxAgeDays', async () => {
    const clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
    try {
      const { app } = rig({ maxAgeDays: 1 });
      const remembered = rememberedCookie(await fullLogin(request.agent(app), ALICE, 'alice', true));
      clock.tick(86_400_000 + 1000);
      expect(
        (await sameBrowserNewSession(remembered, app).post('/login').set('Authorization', ALICE)).body,
      ).to.deep.include({
        status: 'partial',
      });
    } finally {
      clock.restore();
    }
  });

  it('bound to a real user id: a user without a usable id is refused, never remembered under "NaN" or "undefined"', async () => {
    const browsers = new RememberedBrowsers({ store: new MemoryStore() });
    const req = { headers: {} } as never;
    const res = { getHeader: () => undefined, setHeader: () => undefined } as never;
    for (const user of [{ id: Number.NaN }, { id: Infinity }, { id: '' }, {}, null]) {
      const refused = await browsers.remember(req, res, user).catch((err: unknown) => err);
      expect(refused, JSON.stringify(user))
        .to.be.instanceOf(TypeError)
        .with.property('message')
        .that.matches(/id/);
    }
    expect(() => new RememberedBrowsers({ store: new MemoryStore(), getUserId: 'id' as never })).to.throw(
      ConfigurationError,
      /getUserId/,
    );
  });

  it('refuses bad options by name', () => {
    const store = new MemoryStore();
    expect(() => new RememberedBrowsers({ store, maxAgeDays: 0 })).to.throw(ConfigurationError, /maxAgeDays/);
    expect(() => new RememberedBrowsers({ store, cookieName: 'a b' })).to.throw(
      ConfigurationError,
      /cookieName/,
    );
    expect(() => new RememberedBrowsers({ store, secure: 'yes' as never })).to.throw(
      ConfigurationError,
      /secure/,
    );
    expect(() => new RememberedBrowsers({} as never)).to.throw(ConfigurationError);
    const { passport } = appWithPassport();
    expect(
      () =>
        new PartialLogin({
          passport,
          requiredFactors: [['basic-login']],
          rememberBrowser: { browsers: {} as never },
        }),
    ).to.throw(ConfigurationError, /rememberBrowser\.browsers/);
  });
});
