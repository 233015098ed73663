import { createHash } from 'node:crypto';
import { expect } from 'chai';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { Passport } from 'passport';
import request from 'supertest';
import { ConfigurationError, XignInStrategy } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import {
  xignInHandlers,
  type XignInAuthenticateOptions,
  type XignInStrategyOptions,
} from '../../src/exports/xignin.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, jsonErrors } from '../helpers/apps.js';

const REDIRECT = 'http://rp.example.test/callback';
const OTHER_REDIRECT = 'http://rp.example.test/other-callback';
const SECRET = 'handlers-secret';

type Options = Partial<Omit<XignInStrategyOptions, 'passReqToCallback'>>;

describe('xignInHandlers: registered names, per-call options, and the session-less binding', function () {
  let sandbox: Sandbox;
  const strategies: XignInStrategy[] = [];
  /** What reached the apps' error handlers. */
  let errors: unknown[] = [];

  before(async () => {
    sandbox = await startSandbox();
    sandbox.xignin.registerClient({
      clientId: 'rp-handlers',
      clientSecret: SECRET,
      redirectUris: [REDIRECT, OTHER_REDIRECT],
    });
  });
  beforeEach(() => {
    sandbox.xignin.faults = {};
    sandbox.xignin.acrValuesSupported = [];
    errors = [];
  });
  after(async () => {
    await Promise.all(strategies.map((s) => s.client.close()));
    await sandbox.close();
  });

  function strategy(options: Options = {}): XignInStrategy {
    const made = new XignInStrategy(
      {
        managerUrl: sandbox.xignin.issuer,
        clientId: 'rp-handlers',
        clientSecret: SECRET,
        redirectUri: REDIRECT,
        store: new MemoryStore(),
        ...options,
      },
      (claims) => ({ id: `user-${claims.sub}` }),
    );
    strategies.push(made);
    return made;
  }

  /**
   * Every route: the redirect start (`login`, with `callOptions`), both callbacks and the push /
   * JS-login completion through `complete`, which answers the logged-in user.
   */
  function mount(
    app: Express,
    passport: InstanceType<typeof Passport>,
    name: string,
    routes: ReturnType<typeof xignInHandlers>,
    callOptions: XignInAuthenticateOptions = {},
  ): Express {
    const answer: RequestHandler = (req, res) => {
      res.json({ user: req.user, info: req.authInfo });
    };
    app.get('/login', passport.authenticate(name, callOptions) as RequestHandler);
    app.get('/callback', routes.complete, answer);
    app.get('/other-callback', routes.complete, answer);
    app.post('/complete', routes.complete, answer);
    app.get('/js-config', routes.jsLoginConfig);
    app.post('/push', routes.push);
    app.get('/push/status', routes.pushStatus);
    app.use(((err, _req, _res, next) => {
      errors.push(err);
      next(err);
    }) as ErrorRequestHandler);
    app.use(jsonErrors);
    return app;
  }

  /** The browser at XignIn: the QR page, the phone approves as alice, XignIn names the callback. */
  async function atXignIn(location: string): Promise<{ callback: URL; loginId: string }> {
    const url = new URL(location);
    const page = await request(sandbox.url).get(`/xignin/openid/authenticate${url.search}`);
    expect(page.status, page.text).to.equal(200);
    const loginId = /data-login="([^"]+)"/.exec(page.text)![1]!;
    sandbox.xignin.approve('alice', loginId);
    const wait = await request(sandbox.url).get(`/xignin/openid/authenticate/wait?login=${loginId}`);
    return { callback: new URL(wait.body.redirect), loginId };
  }

  async function qrCode(): Promise<string> {
    const created = await request(sandbox.url)
      .post('/xignin/api/rp/qrcode')
      .send({ clientId: 'rp-handlers', redirectUri: REDIRECT });
    sandbox.xignin.approve('alice', created.body.loginId);
    const result = await request(sandbox.url).get(
      `/xignin/api/rp/auth-response?login=${created.body.loginId}`,
    );
    return result.body.code as string;
  }

  const loggedIn = (res: request.Response, mode: string) => {
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.user).to.deep.equal({ id: 'user-xign-7f3a1c' });
    expect(res.body.info).to.include({ method: 'xignin', mode, sub: 'xign-7f3a1c' });
  };

  describe('passport.use(custom-name, strategy)', () => {
    it('the redirect login and every handler work under the registered name', async () => {
      const { app, passport } = appWithPassport();
      const xignin = strategy();
      passport.use('company-login', xignin);
      const routes = xignInHandlers(xignin, { passport, name: 'company-login' });
      const agent = request.agent(mount(app, passport, 'company-login', routes));
      // Redirect.
      const start = await agent.get('/login');
      expect(start.status).to.equal(302);
      loggedIn(
        await agent.get(`/callback${(await atXignIn(start.headers.location!)).callback.search}`),
        'redirect',
      );
      // JS-login.
      const config = (await agent.get('/js-config')).body;
      loggedIn(
        await agent.post('/complete').send({ code: await qrCode(), [config.tokenField]: config.token }),
        'js',
      );
      // Push.
      expect((await agent.post('/push').send({ identifier: 'alice@example.test' })).status).to.equal(202);
      sandbox.xignin.approve('alice');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await agent.get('/push/status')).body).to.deep.equal({ state: 'authenticated' });
      loggedIn(await agent.post('/complete').send({ push: 1 }), 'push');
      const replay = await agent.post('/complete').send({ push: 1 });
      expect(replay.status).to.equal(401);
      expect(replay.body.code).to.equal('no_pending_challenge');
    });

    it('the `name` option names the strategy, and the handlers use it without being told', async () => {
      const { app, passport } = appWithPassport();
      const xignin = strategy({ name: 'company-login' });
      passport.use(xignin);
      const agent = request.agent(
        mount(app, passport, 'company-login', xignInHandlers(xignin, { passport })),
      );
      const config = (await agent.get('/js-config')).body;
      loggedIn(await agent.post('/complete').send({ code: await qrCode(), _xignin: config.token }), 'js');
    });
  });

  describe('per-call options: passport.authenticate(name, { prompt, loginHint, acrValues, redirectUri })', () => {
    async function start(callOptions: XignInAuthenticateOptions | Record<string, unknown>) {
      const { app, passport } = appWithPassport();
      const xignin = strategy();
      passport.use(xignin);
      const agent = request.agent(
        mount(
          app,
          passport,
          'xignin',
          xignInHandlers(xignin, { passport }),
          callOptions as XignInAuthenticateOptions,
        ),
      );
      return { agent, res: await agent.get('/login') };
    }

    it('XignIn sees prompt, login_hint and acr_values (announced by discovery) of this login only', async () => {
      sandbox.xignin.acrValuesSupported = ['urn:xign:loa:high', 'urn:xign:loa:low'];
      const { agent, res } = await start({
        prompt: 'login',
        loginHint: 'alice@example.test',
        acrValues: ['urn:xign:loa:high'],
      });
      expect(res.status, JSON.stringify(res.body)).to.equal(302);
      const sent = new URL(res.headers.location!).searchParams;
      expect(sent.get('prompt')).to.equal('login');
      expect(sent.get('login_hint')).to.equal('alice@example.test');
      expect(sent.get('acr_values')).to.equal('urn:xign:loa:high');
      const { callback } = await atXignIn(res.headers.location!);
      loggedIn(await agent.get(`/callback${callback.search}`), 'redirect');
      // Another login without them sends none.
      const plain = await start({});
      const params = new URL(plain.res.headers.location!).searchParams;
      expect(params.has('prompt') || params.has('login_hint') || params.has('acr_values')).to.equal(false);
    });

    it('the sandbox records what it was asked (pending login)', async () => {
      sandbox.xignin.acrValuesSupported = ['urn:xign:loa:high'];
      const { res } = await start({
        prompt: 'login',
        loginHint: 'bob@example.test',
        acrValues: ['urn:xign:loa:high'],
      });
      const page = await request(sandbox.url).get(
        `/xignin/openid/authenticate${new URL(res.headers.location!).search}`,
      );
      const loginId = /data-login="([^"]+)"/.exec(page.text)![1]!;
      const pending = sandbox.xignin.pendingLogins().find((login) => login.id === loginId);
      expect(pending).to.deep.include({
        prompt: 'login',
        loginHint: 'bob@example.test',
        acrValues: ['urn:xign:loa:high'],
      });
      sandbox.xignin.deny(loginId);
    });

    it('redirectUri per call: XignIn sends the browser there, and the code is redeemed with it', async () => {
      const { agent, res } = await start({ redirectUri: OTHER_REDIRECT });
      expect(new URL(res.headers.location!).searchParams.get('redirect_uri')).to.equal(OTHER_REDIRECT);
      const { callback } = await atXignIn(res.headers.location!);
      expect(`${callback.origin}${callback.pathname}`).to.equal(OTHER_REDIRECT);
      // The token endpoint refuses a redirect_uri other than the authorize request's: a login proves both matched.
      loggedIn(await agent.get(`/other-callback${callback.search}`), 'redirect');
    });

    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        'callbackURL (ambiguous: named redirectUri here)',
        { callbackURL: OTHER_REDIRECT },
        /`callbackURL`.*`redirectUri`/,
      ],
      ['prompt other than login', { prompt: 'consent' }, /`prompt`/],
      ['an empty loginHint', { loginHint: '' }, /`loginHint`/],
      ['a loginHint with a newline', { loginHint: 'a\nb' }, /`loginHint`/],
      ['acrValues as a string', { acrValues: 'urn:x' }, /`acrValues`/],
      ['a relative redirectUri', { redirectUri: '/callback' }, /`redirectUri`/],
      ['a redirectUri with a fragment', { redirectUri: `${REDIRECT}#x` }, /`redirectUri`/],
    ];
    for (const [title, options, message] of bad) {
      it(`refuses ${title}: an error naming the option, no redirect, no transaction`, async () => {
        const { res } = await start(options);
        expect(res.status).to.equal(500);
        expect(res.body.code).to.equal('ERR_INVALID_OPTION');
        expect(res.headers.location).to.equal(undefined);
        expect(errors).to.have.length(1);
        expect(errors[0]).to.be.instanceOf(ConfigurationError);
        expect((errors[0] as Error).message).to.match(message);
      });
    }

    it('acrValues that discovery does not announce are refused with their names', async () => {
      sandbox.xignin.acrValuesSupported = ['urn:xign:loa:low'];
      expect((await start({ acrValues: ['urn:xign:loa:high'] })).res.status).to.equal(500);
      expect(errors[0]).to.be.instanceOf(ConfigurationError);
      expect((errors[0] as Error).message).to.match(
        /"urn:xign:loa:high".*acr_values_supported: urn:xign:loa:low/,
      );
      sandbox.xignin.acrValuesSupported = [];
      expect((await start({ acrValues: ['urn:xign:loa:low'] })).res.status).to.equal(500);
      expect((errors[1] as Error).message).to.match(/announces no acr_values_supported/);
    });
  });

  describe('without express-session: getSessionId(req) binds transactions, the JS-login token and pushes', () => {
    function sessionless(store = new MemoryStore()): Express {
      const app = express();
      const passport = new Passport();
      app.use(express.json());
      app.use(passport.initialize());
      const xignin = strategy({
        store,
        getSessionId: (req) => req.headers['x-login-id'] as string | undefined,
      });
      passport.use(xignin);
      return mount(app, passport, 'xignin', xignInHandlers(xignin, { passport }));
    }

    it('redirect: the callback completes with the id that started it, once; another id gets state_mismatch', async () => {
      const app = sessionless();
      const start = await request(app).get('/login').set('X-Login-Id', 'victim-id');
      expect(start.status, JSON.stringify(start.body)).to.equal(302);
      expect(start.headers['set-cookie']).to.equal(undefined);
      const { callback } = await atXignIn(start.headers.location!);
      const stolen = await request(app).get(`/callback${callback.search}`).set('X-Login-Id', 'attacker-id');
      expect(stolen.status).to.equal(401);
      expect(stolen.body.code).to.equal('state_mismatch');
      const none = await request(app).get(`/callback${callback.search}`);
      expect(none.body.code).to.equal('state_mismatch');
      loggedIn(
        await request(app).get(`/callback${callback.search}`).set('X-Login-Id', 'victim-id'),
        'redirect',
      );
      const replay = await request(app).get(`/callback${callback.search}`).set('X-Login-Id', 'victim-id');
      expect(replay.body.code).to.equal('state_mismatch');
    });

    it('JS-login: the token of one id does not let another id post a code', async () => {
      const app = sessionless();
      const mine = (await request(app).get('/js-config').set('X-Login-Id', 'victim-id')).body;
      const theirs = (await request(app).get('/js-config').set('X-Login-Id', 'attacker-id')).body;
      expect(mine.token).to.not.equal(theirs.token);
      const code = await qrCode();
      const crossed = await request(app)
        .post('/complete')
        .set('X-Login-Id', 'attacker-id')
        .send({ code, _xignin: mine.token });
      expect(crossed.status).to.equal(401);
      expect(crossed.body.code).to.equal('state_mismatch');
      loggedIn(
        await request(app)
          .post('/complete')
          .set('X-Login-Id', 'victim-id')
          .send({ code, _xignin: mine.token }),
        'js',
      );
    });

    it('push: another id cannot read or complete it; of 10 concurrent completions exactly one logs in', async () => {
      const app = sessionless();
      const push = await request(app)
        .post('/push')
        .set('X-Login-Id', 'victim-id')
        .send({ identifier: 'alice@example.test' });
      expect(push.status).to.equal(202);
      sandbox.xignin.approve('alice');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const read = await request(app).get('/push/status').set('X-Login-Id', 'attacker-id');
      expect(read.status).to.equal(404);
      expect(read.body.code).to.equal('no_pending_challenge');
      expect((await request(app).get('/push/status').set('X-Login-Id', 'victim-id')).body).to.deep.equal({
        state: 'authenticated',
      });
      const stolen = await request(app).post('/complete').set('X-Login-Id', 'attacker-id').send({ push: 1 });
      expect(stolen.status).to.equal(401);
      expect(stolen.body.code).to.equal('no_pending_challenge');
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          request(app).post('/complete').set('X-Login-Id', 'victim-id').send({ push: 1 }),
        ),
      );
      expect(results.filter((res) => res.status === 200)).to.have.length(1);
      expect(results.filter((res) => res.status === 401)).to.have.length(9);
    });

    it('a corrupt or foreign push record is no pending login: never a crash, never a login', async () => {
      const store = new MemoryStore();
      const app = sessionless(store);
      const key = `xignin:push:${createHash('sha256').update('browser-with-a-bad-record').digest('base64url')}`;
      await request(app)
        .post('/push')
        .set('X-Login-Id', 'browser-with-a-bad-record')
        .send({ identifier: 'alice@example.test' });
      expect(await store.get(key), 'the record is where the test expects it').to.be.a('string');
      for (const garbage of ['not json', '{"idToken":"x.y.z"}', '[]']) {
        await store.set(key, garbage, 60_000);
        const status = await request(app).get('/push/status').set('X-Login-Id', 'browser-with-a-bad-record');
        expect(status.status, garbage).to.equal(404);
        const done = await request(app)
          .post('/complete')
          .set('X-Login-Id', 'browser-with-a-bad-record')
          .send({ push: 1 });
        expect(done.status, garbage).to.equal(401);
        expect(done.body.code).to.equal('no_pending_challenge');
      }
    });

    it('a login started without an id is the app’s fault (500 ERR_INVALID_OPTION), and no push is sent', async () => {
      const app = sessionless();
      expect((await request(app).get('/login')).body.code).to.equal('ERR_INVALID_OPTION');
      const before = sandbox.xignin.pendingLogins().length;
      const push = await request(app).post('/push').send({ identifier: 'alice@example.test' });
      expect(push.status).to.equal(500);
      expect(sandbox.xignin.pendingLogins().length).to.equal(before);
    });
  });
});
